// Stands in for the `typescript` package (wrangler.toml [alias]). @mastra/server's agent builder
// does `await import("typescript")`; bundled for real that is 10.5 MiB (4.8 MiB gzipped), over the
// free plan's 3 MiB, for a feature (compiling user TypeScript at run time) a Worker cannot use.
// Anything that reaches for it fails with a clear message instead.
const unavailable = () => {
  throw new Error("typescript is not bundled into this Worker (aliased to a stub in wrangler.toml)");
};
export default new Proxy({}, { get: unavailable });
export const transpileModule = unavailable;
export const createProgram = unavailable;
export const createSourceFile = unavailable;
