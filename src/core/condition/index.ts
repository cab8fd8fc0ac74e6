// The condition language (SPEC §2): one parser, one AST, a checker, an in-memory evaluator and the next moment
// time alone can change an answer. The SQL compiler for whole-base evaluation is src/store/condition-sql.ts.
export type {
  AggregateExpr,
  CompareOp,
  Expr,
  LiteralExpr,
  Span,
  ValueExpr,
  Window,
} from "./ast.ts";
export { type CheckEnv, CONSENT_STATES, checkCondition } from "./check.ts";
export { type ConditionDeps, conditionDeps } from "./deps.ts";
export type { ConditionError } from "./errors.ts";
export { evaluate, evaluateStage, matchesEvent } from "./evaluate.ts";
export { nextChange } from "./next-change.ts";
export { ATTRIBUTE_NAMES, type ParseResult, parseCondition } from "./parser.ts";
export type {
  ConditionEnv,
  ContactKind,
  CustomerFacts,
  CustomerValueFacts,
  Subject,
  SubjectEvent,
} from "./subject.ts";
export { contactAddress } from "./subject.ts";
