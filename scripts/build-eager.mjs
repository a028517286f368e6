// wrangler.toml's [build] command (run by `wrangler deploy`, `wrangler dev` and the tests'
// `wrangler deploy --dry-run`): writes the eager copy of src/ (scripts/lib/eager-copy.mjs).
// Only a command, with no "am I the main module" test: a check that misread the path (a space in
// it, a symlink) would skip the build silently and leave wrangler a stale copy.

import { relative } from "node:path";
import { ROOT } from "./lib/bundle.mjs";
import { buildEager, EAGER_ROOT } from "./lib/eager-copy.mjs";

const { functions, files } = await buildEager();
console.log(`eager compile: ${functions} functions in ${files} modules → ${relative(ROOT, EAGER_ROOT)}/src`);
