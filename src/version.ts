// The product's version, from package.json; and the files Tact reads beside its code. Both are found from this
// module, one folder below the project's root, as is the bundle the `tact` command runs (dist/tact.mjs), so the
// same relative paths hold in both.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = new URL("../", import.meta.url);

export const VERSION: string = (
  JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")) as { version: string }
).version;

export const MIGRATIONS_DIR = fileURLToPath(new URL("src/store/migrations/", ROOT));
