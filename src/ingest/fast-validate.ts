// The tracking schemas of tracking-schema.ts checked by hand: the same rules as the zod schemas (which document the
// API and stay the reference — a property test holds the two to the same verdicts), at a fraction of the cost,
// because ingestion validates every message.
import { type CallType, ISO_TIME, type TrackingMessage } from "./tracking-schema.ts";

export type Checked = { ok: true; message: TrackingMessage } | { ok: false; path: string; reason: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

class Invalid {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {}
}

function id(m: Obj, key: string, required: boolean): string | null | undefined {
  const v = m[key];
  if (v === undefined || v === null) {
    if (required) throw new Invalid(key, "required: a string or a number");
    return v;
  }
  if (typeof v === "string") {
    if (v.length < 1) throw new Invalid(key, "must not be empty");
    if (v.length > 255) throw new Invalid(key, "must be at most 255 characters");
    return v;
  }
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  throw new Invalid(key, "must be a string or a number");
}

function str(m: Obj, key: string, min: number, max: number, required = false): string | null | undefined {
  const v = m[key];
  if (v === undefined || v === null) {
    if (required) throw new Invalid(key, "required: a string");
    return v;
  }
  if (typeof v !== "string") throw new Invalid(key, "must be a string");
  if (v.length < min) throw new Invalid(key, "must not be empty");
  if (v.length > max) throw new Invalid(key, `must be at most ${max} characters`);
  return v;
}

function time(m: Obj, key: string): string | null | undefined {
  const v = str(m, key, 0, 64);
  if (typeof v === "string" && (!ISO_TIME.test(v) || Number.isNaN(Date.parse(v))))
    throw new Invalid(key, "must be an ISO-8601 date-time");
  return v;
}

function record(m: Obj, key: string): Obj | null | undefined {
  const v = m[key];
  if (v === undefined || v === null) return v;
  if (!isObj(v)) throw new Invalid(key, "must be an object");
  return v;
}

export function checkMessage(raw: Obj, type: CallType): Checked {
  try {
    if (raw.type !== undefined && raw.type !== type) throw new Invalid("type", `must be "${type}"`);
    const m: TrackingMessage = {
      type,
      userId: id(raw, "userId", type === "alias"),
      anonymousId: id(raw, "anonymousId", false),
      messageId: str(raw, "messageId", 1, 255),
      timestamp: time(raw, "timestamp"),
      originalTimestamp: time(raw, "originalTimestamp"),
      sentAt: time(raw, "sentAt"),
      context: record(raw, "context"),
      integrations: record(raw, "integrations"),
    };
    switch (type) {
      case "identify":
        m.traits = record(raw, "traits");
        break;
      case "track":
        m.event = str(raw, "event", 1, 255, true) as string;
        m.properties = record(raw, "properties");
        break;
      case "page":
        m.name = str(raw, "name", 0, 255);
        m.category = str(raw, "category", 0, 255);
        m.properties = record(raw, "properties");
        break;
      case "screen":
        m.name = str(raw, "name", 0, 255);
        m.properties = record(raw, "properties");
        break;
      case "group":
        m.groupId = id(raw, "groupId", true) as string;
        m.traits = record(raw, "traits");
        break;
      case "alias":
        m.previousId = id(raw, "previousId", true);
        break;
    }
    if (type !== "alias" && !m.userId && !m.anonymousId) {
      throw new Invalid("userId", "userId or anonymousId is required");
    }
    return { ok: true, message: m };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, path: err.path, reason: err.reason };
    throw err;
  }
}
