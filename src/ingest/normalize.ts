// Turns one raw tracking message into a validated, clock-corrected event, or a reason why not.
import { randomUUID } from "node:crypto";
import { checkMessage } from "./fast-validate.ts";
import { CALL_TYPES, type CallType, LIMITS } from "./tracking-schema.ts";

export interface TrackedEvent {
  index: number;
  type: CallType;
  name: string | null;
  userId: string | null;
  anonymousId: string | null;
  previousId: string | null;
  messageId: string;
  occurredAt: Date;
  /** track/page/screen properties; identify/group traits */
  properties: Record<string, unknown>;
  traits: Record<string, unknown> | null;
  context: Record<string, unknown> | null;
}

export interface Rejection {
  index: number;
  path: string;
  reason: string;
}

export interface BatchDefaults {
  context?: Record<string, unknown> | null | undefined;
  integrations?: Record<string, unknown> | null | undefined;
  sentAt?: string | null | undefined;
}

export function normalizeMessage(
  raw: unknown,
  index: number,
  receivedAt: Date,
  typeFromPath?: CallType,
  defaults: BatchDefaults = {},
): TrackedEvent | Rejection {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { index, path: "", reason: "each message must be a JSON object" };
  }
  const rawType = (raw as { type?: unknown }).type;
  const type = typeFromPath ?? rawType;
  if (typeof type !== "string" || !(CALL_TYPES as readonly string[]).includes(type)) {
    return { index, path: "type", reason: `type must be one of ${CALL_TYPES.join(", ")}` };
  }
  const depthProblem = tooDeep(raw, LIMITS.maxDepth);
  if (depthProblem)
    return { index, path: depthProblem, reason: `nested deeper than ${LIMITS.maxDepth} levels` };
  const checked = checkMessage(raw as Record<string, unknown>, type as CallType);
  if (!checked.ok) return { index, path: checked.path, reason: checked.reason };
  const m = checked.message;

  const when = m.timestamp ?? m.originalTimestamp;
  let occurredAt = when ? new Date(when) : receivedAt;
  const sentAt = m.sentAt ?? defaults.sentAt;
  if (when && sentAt) {
    // The client's clock may be wrong; sentAt and our receivedAt measure by how much.
    occurredAt = new Date(occurredAt.getTime() + (receivedAt.getTime() - new Date(sentAt).getTime()));
  }
  if (occurredAt.getTime() > receivedAt.getTime() + LIMITS.futureToleranceMs) {
    return { index, path: "timestamp", reason: "timestamp is more than a day in the future" };
  }
  if (Number.isNaN(occurredAt.getTime()) || occurredAt.getTime() < 0 || occurredAt.getUTCFullYear() > 9999) {
    return { index, path: "timestamp", reason: "timestamp is before 1970 or out of range" };
  }

  let context = mergeContext(defaults.context, m.context);
  const integrations = mergeContext(defaults.integrations, m.integrations);
  if (integrations && Object.keys(integrations).length > 0) context = { ...context, integrations };
  const event: TrackedEvent = {
    index,
    type: type as CallType,
    name: null,
    userId: m.userId ?? null,
    anonymousId: m.anonymousId ?? null,
    previousId: null,
    messageId: m.messageId ?? randomUUID(),
    occurredAt,
    properties: {},
    traits: null,
    context,
  };
  switch (m.type) {
    case "track":
      event.name = m.event ?? null;
      event.properties = m.properties ?? {};
      break;
    case "page":
    case "screen":
      event.name = m.name ?? null;
      event.properties = m.category
        ? { category: m.category, ...(m.properties ?? {}) }
        : (m.properties ?? {});
      break;
    case "identify":
      event.traits = m.traits ?? {};
      event.properties = event.traits;
      break;
    case "group":
      event.name = m.groupId ?? null;
      event.properties = { groupId: m.groupId, traits: m.traits ?? {} };
      break;
    case "alias":
      event.previousId = m.previousId ?? null;
      event.properties = { previousId: m.previousId };
      break;
  }
  return event;
}

function mergeContext(
  batch: Record<string, unknown> | null | undefined,
  own: Record<string, unknown> | null | undefined,
): Record<string, unknown> | null {
  if (!batch) return own ?? null;
  if (!own) return batch;
  return { ...batch, ...own };
}

/** Returns the path of the first value nested deeper than max, or undefined. */
export function tooDeep(value: unknown, max: number): string | undefined {
  // the keys on the way down, made into a path only when one is too deep
  const keys: (string | number)[] = [];
  const walk = (v: unknown, left: number): boolean => {
    if (typeof v !== "object" || v === null) return false;
    if (left === 0) return true;
    const deeper = (k: string | number, child: unknown) => {
      keys.push(k);
      if (walk(child, left - 1)) return true;
      keys.pop();
      return false;
    };
    if (Array.isArray(v)) return v.some((child, i) => deeper(i, child));
    for (const k in v) if (deeper(k, (v as Record<string, unknown>)[k])) return true;
    return false;
  };
  if (!walk(value, max)) return undefined;
  const path = keys.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
  return path || "(root)";
}

/**
 * At least the number of UTF-16 units of the value's JSON without escapes: its strings and keys with their
 * quotes, a generous 24 for a number. Six times it bounds the JSON's UTF-8 size, escapes included.
 */
export function jsonUnits(value: unknown): number {
  switch (typeof value) {
    case "string":
      return value.length + 2;
    case "object": {
      if (value === null) return 4;
      let n = 2;
      if (Array.isArray(value)) for (const v of value) n += jsonUnits(v) + 1;
      else for (const k in value) n += k.length + 4 + jsonUnits((value as Record<string, unknown>)[k]);
      return n;
    }
    default:
      return 24;
  }
}

export function isRejection(x: TrackedEvent | Rejection): x is Rejection {
  return "reason" in x;
}
