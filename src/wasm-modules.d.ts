// A `.wasm` import, as workerd, wrangler and miniflare resolve it: a compiled module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
