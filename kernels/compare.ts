// Array closeness as |got − want| ≤ atol + rtol·|want| elementwise (numpy's allclose), with
// enough detail in the report to find the bad element. Shared by Node tests and the browser check.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Closeness {
  ok: boolean;
  count: number;
  maxAbsError: number;
  /** Index of the element furthest outside (or closest to) its tolerance. */
  worst: number;
  got: number;
  want: number;
}

export function closeness(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Closeness {
  if (got.length !== want.length) {
    return { ok: false, count: got.length, maxAbsError: Infinity, worst: -1, got: got.length, want: want.length };
  }
  let maxAbsError = 0;
  let worst = 0;
  let worstRatio = -Infinity;
  let ok = true;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const bound = tol.atol + tol.rtol * Math.abs(want[i]);
    // NaN compares false everywhere: treat it as infinitely wrong.
    const ratio = Number.isNaN(err) ? Infinity : err / bound;
    if (!(err <= bound)) ok = false;
    if (err > maxAbsError || Number.isNaN(err)) maxAbsError = Number.isNaN(err) ? NaN : err;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  return { ok, count: got.length, maxAbsError, worst, got: got[worst], want: want[worst] };
}

export function describeCloseness(what: string, c: Closeness, tol: Tolerance): string {
  return (
    `${what}: ${c.ok ? 'ok' : 'MISMATCH'} over ${c.count} values, max |err| ${c.maxAbsError.toExponential(2)}` +
    ` (atol ${tol.atol}, rtol ${tol.rtol}); worst [${c.worst}] got ${c.got} want ${c.want}`
  );
}
