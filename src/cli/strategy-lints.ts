// The lint checks `tact strategy validate` joins to its output: the strategy's lint against the workspace's data
// (strategy-map.ts) and the templates' checks (Liquid syntax, unknown variables, MJML), placed at the template in
// the strategy file.
import { dirname } from "node:path";
import { checkTemplates } from "../engine/render/template-checks.ts";
import { resolveTemplateFiles } from "../engine/render/template-files.ts";
import type { StrategyLint } from "../strategy/validate.ts";
import { lintHook } from "./strategy-map.ts";

export function strategyLints(workspace: string): StrategyLint {
  const data = lintHook({ workspace });
  return async (strategy, source) => {
    const resolved = resolveTemplateFiles(strategy, dirname(source.file));
    const templates = (await checkTemplates(resolved)).map((p) =>
      source.at(
        ["templates", p.template, p.channel, p.field],
        p.severity,
        p.code,
        `template ${p.template}, ${p.channel} ${p.field}, line ${p.line} column ${p.column}: ${p.message}`,
      ),
    );
    return [...(await data(strategy, source)), ...templates];
  };
}
