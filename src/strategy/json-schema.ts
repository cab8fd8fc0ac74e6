// The JSON Schema (draft 2020-12) of the strategy document, for editors: completion and inline errors in any
// YAML editor that reads a schema (`# yaml-language-server: $schema=…`). Generated from the same zod schema that
// validates the document.
import { z } from "zod";
import { documentSchema } from "./schema.ts";

export function strategyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(documentSchema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "any",
  });
  return {
    ...schema,
    $id: "https://tact.example/schemas/strategy.json",
    title: "Tact strategy",
    description:
      "The CRM strategy of one workspace: goals, channels, rules, stages, segments, scenarios, templates.",
  };
}
