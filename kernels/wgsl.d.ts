// WGSL sources are imported as text: Vite's `?raw` in the browser, wgsl-register.mjs in Node.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
