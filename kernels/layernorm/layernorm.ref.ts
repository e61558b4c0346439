// CPU reference for layernorm: shared/gpt.ts layernormForward / layernormBackward (float64).
export { layernormBackward as layernormBackwardRef, layernormForward as layernormForwardRef } from '../../shared/gpt.ts';
