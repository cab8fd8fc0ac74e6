#!/usr/bin/env node
// The tact command. It runs one bundle of the TypeScript sources (dist/tact.mjs, the npm packages left outside it),
// built with esbuild on first use and again whenever a source is newer: loading ~300 modules through a TypeScript
// loader took seconds on every start. Where the bundle cannot be built (a read-only install), the sources run
// through tsx's loader instead.
import { mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const src = fileURLToPath(new URL("src/", root));
const bundle = fileURLToPath(new URL("dist/tact.mjs", root));

/** The newest modification time of the sources and of this file (the bundle's recipe). */
function newestSource() {
  let newest = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts"))
      newest = Math.max(newest, statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs);
  }
  return newest;
}

function bundleTime() {
  try {
    return statSync(bundle).mtimeMs;
  } catch {
    return -1;
  }
}

async function build() {
  const { build } = await import("esbuild");
  // written aside and renamed into place: processes starting together never read a half-written bundle
  const aside = `${bundle}.${process.pid}.tmp`;
  mkdirSync(fileURLToPath(new URL("dist/", root)), { recursive: true });
  await build({
    entryPoints: [fileURLToPath(new URL("src/cli/main.ts", root))],
    outfile: aside,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: "inline",
    sourcesContent: false,
    logLevel: "silent",
  });
  renameSync(aside, bundle);
}

let ready = bundleTime() >= newestSource();
if (!ready) {
  try {
    await build();
    ready = true;
  } catch {
    // a read-only install, or esbuild missing: run the sources as they are
  }
}
if (ready) {
  process.setSourceMapsEnabled(true);
  await import(new URL("dist/tact.mjs", root).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
