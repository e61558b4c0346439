// CPU reference for the residual add: x + y, and its backward (the gradient reaches both).

export function residualRef(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => x[i] + y[i]);
}
