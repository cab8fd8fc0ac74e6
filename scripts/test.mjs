// Runs every test file (unit tests beside the code, integration tests in test/) with node's test runner.
// TACT_TEST_DATABASE_URL=postgres://… runs the same suite on PostgreSQL instead of the embedded database.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...find("src"), ...find("test")].sort();
const backend = process.env.TACT_TEST_DATABASE_URL ? "postgres" : "pglite";
console.log(`# running ${files.length} test files on ${backend}`);
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=600000", ...files],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
