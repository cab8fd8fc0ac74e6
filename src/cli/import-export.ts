// `tact import` and `tact export`.
import type { Command } from "commander";

export function registerImportExport(_program: Command): void {}
