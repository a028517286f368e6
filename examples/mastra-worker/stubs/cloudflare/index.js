// Stands in for the `cloudflare` REST SDK. @mastra/cloudflare-d1 imports it statically for its
// REST mode (accountId + apiToken); a Worker uses the D1 binding, and the SDK would add ~60 KiB
// gzipped to a bundle close to the free plan's 3 MiB (wrangler.toml [alias]). In this repository
// it also replaces the SDK in node_modules (package.json "overrides"): the SDK pulls @types/node
// into the type graph, which the Worker code is not written against.
export default class Cloudflare {
  constructor() {
    throw new Error("the Cloudflare REST SDK is not bundled into this Worker: use D1Store({ binding: env.DB })");
  }
}
