// The files Tact reads beside its code, found from this module: it sits one folder below the project's root, as
// does the bundle the `tact` command runs (dist/tact.mjs), so the same relative paths hold in both.
import { fileURLToPath } from "node:url";

const ROOT = new URL("../", import.meta.url);

export const PACKAGE_JSON = new URL("package.json", ROOT);
export const MIGRATIONS_DIR = fileURLToPath(new URL("src/store/migrations/", ROOT));
