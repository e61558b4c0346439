// Types for the optional packages (web/optional-packages.ts), which `npm install` leaves out:
// the typecheck passes with or without them. Ambient declarations win over installed types, so
// these describe only what our callers use (web/src/client/wallet/walletconnect.ts,
// e2e/wc-wallet.ts, kernels/dev/bench-tfjs.ts). (tsconfig `paths` with a fallback would keep the
// packages' own types, but tsx follows `paths` at run time and loads the CommonJS build.)
type Listener = (event: any) => void;

declare module '@walletconnect/ethereum-provider' {
  interface Provider {
    session?: unknown;
    on(event: string, listener: Listener): void;
    removeListener(event: string, listener: Listener): void;
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  }
  export const EthereumProvider: { init(options: object): Promise<Provider> };
}

declare module '@walletconnect/sign-client' {
  interface Client {
    on(event: string, listener: Listener): void;
    approve(args: object): Promise<unknown>;
    respond(args: object): Promise<void>;
    [other: string]: any;
  }
  export const SignClient: { init(options: object): Promise<Client> };
}

declare module '@tensorflow/tfjs-core' {
  export type Tensor = any;
  export type Tensor2D = any;
  export type Tensor4D = any;
  export type Scalar = any;
  export type Variable = any;
  export type Optimizer = any;
  export const backend: any, dispose: any, gather: any, linalg: any, losses: any, matMul: any, moments: any, oneHot: any, ones: any;
  export const randomNormal: any, randomUniform: any, range: any, ready: any, setBackend: any, softmax: any, tanh: any, tidy: any;
  export const tile: any, train: any, unstack: any, variable: any, zeros: any;
}

declare module '@tensorflow/tfjs-backend-webgpu' {
  export type WebGPUBackend = any;
}
