// The one syntax tree of the condition language, shared by the checker, the in-memory evaluator, the next-change
// planner and the SQL compiler. Every node carries its source offsets so any later error can point at its text.

export interface Span {
  /** offset of the node's first character in the source */
  start: number;
  /** offset just past its last character */
  end: number;
}

/** A customer's value as the last `tact value fit` left it (the `customer_value` row): numbers, and the RFM group. */
const VALUE_NUMBER_FIELDS = [
  "p_alive",
  "clv",
  "clv_percentile",
  "expected_purchases",
  "expected_value",
  "rfm_r",
  "rfm_f",
  "rfm_m",
] as const;
export const VALUE_FIELDS = [...VALUE_NUMBER_FIELDS, "rfm_group"] as const;
export type ValueField = (typeof VALUE_FIELDS)[number];
export const isValueField = (name: string): name is ValueField =>
  (VALUE_FIELDS as readonly string[]).includes(name);

/** Customer columns and the values derived from them (read from the `customers` row), and the value fields. */
export const NUMBER_FIELDS = [
  "orders",
  "revenue",
  "aov",
  "days_since_last_order",
  "days_since_first_order",
  "days_since_last_seen",
  "days_since_first_seen",
  ...VALUE_NUMBER_FIELDS,
] as const;
export const TIME_FIELDS = ["first_order_at", "last_order_at", "first_seen_at", "last_seen_at"] as const;
export const STRING_FIELDS = [
  "email",
  "phone",
  "telegram_chat_id",
  "user_id",
  "timezone",
  "locale",
  "preferred_channel",
  "rfm_group",
] as const;

export type NumberField = (typeof NUMBER_FIELDS)[number];
export type TimeField = (typeof TIME_FIELDS)[number];
export type StringField = (typeof STRING_FIELDS)[number];
export type FieldName = NumberField | TimeField | StringField;

/** `days_since_x` reads the time column `x_at`. */
export const DAYS_SINCE_BASE: Readonly<Record<string, TimeField>> = {
  days_since_last_order: "last_order_at",
  days_since_first_order: "first_order_at",
  days_since_last_seen: "last_seen_at",
  days_since_first_seen: "first_seen_at",
};

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "starts_with" | "ends_with";
export type AggregateFn = "count" | "sum" | "avg" | "min" | "max" | "last";

/** Event types matched by a bare selector word; any other word (or a quoted string) is a track event's name. */
export const EVENT_TYPES = ["page", "screen", "identify", "group", "alias", "track"] as const;

export interface LiteralExpr extends Span {
  kind: "literal";
  value: number | string | boolean;
}

export interface FieldExpr extends Span {
  kind: "field";
  name: FieldName;
}

export interface TraitExpr extends Span {
  kind: "trait";
  path: string[];
}

/** `properties.<path>` of the event under test; only inside an aggregate's `where`. */
export interface PropertyExpr extends Span {
  kind: "property";
  path: string[];
}

export interface ConsentExpr extends Span {
  kind: "consent";
  channel: string;
  channelSpan: Span;
}

export interface ReachableExpr extends Span {
  kind: "reachable";
  /** null: any of the strategy's channels */
  channel: string | null;
  channelSpan: Span | null;
}

export interface StageExpr extends Span {
  kind: "stage";
}

export interface SegmentExpr extends Span {
  kind: "segment";
  name: string;
  nameSpan: Span;
}

export interface EventSelector extends Span {
  /** "type": matches events.type; "name": matches track events by events.name */
  by: "type" | "name";
  value: string;
}

export type Window =
  | (Span & { kind: "duration"; ms: number; text: string })
  | (Span & { kind: "since_entry" });

export interface AggregateExpr extends Span {
  kind: "aggregate";
  fn: AggregateFn;
  selector: EventSelector;
  /** the property path aggregated (`SEL.properties.PATH`); null for count */
  path: string[] | null;
  filter: Expr | null;
  /** null: all time */
  window: Window | null;
}

/** Something with a value: the left side of a comparison, or a condition on its own when it is boolean. */
export type ValueExpr =
  | FieldExpr
  | TraitExpr
  | PropertyExpr
  | ConsentExpr
  | ReachableExpr
  | StageExpr
  | SegmentExpr
  | AggregateExpr;

export interface ConstExpr extends Span {
  kind: "const";
  value: boolean;
}

export interface BinaryExpr extends Span {
  kind: "and" | "or";
  left: Expr;
  right: Expr;
}

export interface NotExpr extends Span {
  kind: "not";
  operand: Expr;
}

export interface CompareExpr extends Span {
  kind: "compare";
  op: CompareOp;
  left: ValueExpr;
  right: LiteralExpr;
}

export interface InExpr extends Span {
  kind: "in";
  left: ValueExpr;
  items: LiteralExpr[];
}

export interface ExistsExpr extends Span {
  kind: "exists";
  operand: ValueExpr;
}

export type Expr = ConstExpr | BinaryExpr | NotExpr | CompareExpr | InExpr | ExistsExpr | ValueExpr;

/** The static type of a value; "dynamic" values (traits, properties, last) take the type of their JSON value. */
export type ValueType = "number" | "string" | "time" | "boolean" | "dynamic";

export function valueType(v: ValueExpr): ValueType {
  switch (v.kind) {
    case "field":
      if ((TIME_FIELDS as readonly string[]).includes(v.name)) return "time";
      if ((STRING_FIELDS as readonly string[]).includes(v.name)) return "string";
      return "number";
    case "trait":
    case "property":
      return "dynamic";
    case "consent":
    case "stage":
      return "string";
    case "reachable":
    case "segment":
      return "boolean";
    case "aggregate":
      return v.fn === "last" ? "dynamic" : "number";
  }
}

/** Every direct child condition or value of a node (not literals), for walks over the tree. */
export function children(e: Expr): Expr[] {
  switch (e.kind) {
    case "and":
    case "or":
      return [e.left, e.right];
    case "not":
      return [e.operand];
    case "compare":
    case "in":
      return [e.left];
    case "exists":
      return [e.operand];
    case "aggregate":
      return e.filter ? [e.filter] : [];
    default:
      return [];
  }
}
