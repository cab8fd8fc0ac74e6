// The Segment-compatible tracking payloads: one zod schema per call type, used to validate and to document.
import { z } from "zod";

const id = z.union([z.string().min(1).max(255), z.number().finite()]).transform((v) => String(v));
/** An ISO-8601 date-time (a date at least), as the SDKs send; Date.parse alone would take "1" for 2001. */
export const ISO_TIME = /^[+-]?\d{4,6}-\d{2}-\d{2}/;
const isoTime = z
  .string()
  .max(64)
  .refine((s) => ISO_TIME.test(s) && !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date-time");
const jsonObject = z.record(z.string(), z.unknown());

const common = {
  userId: id.nullish(),
  anonymousId: id.nullish(),
  messageId: z.string().min(1).max(255).nullish(),
  timestamp: isoTime.nullish(),
  originalTimestamp: isoTime.nullish(),
  sentAt: isoTime.nullish(),
  context: jsonObject.nullish(),
  integrations: jsonObject.nullish(),
};

const needsId = <T extends { userId?: string | null; anonymousId?: string | null }>(m: T) =>
  Boolean(m.userId) || Boolean(m.anonymousId);
const needsIdMessage = { message: "userId or anonymousId is required", path: ["userId"] };

export const identifySchema = z
  .object({ ...common, type: z.literal("identify").optional(), traits: jsonObject.nullish() })
  .refine(needsId, needsIdMessage);
export const trackSchema = z
  .object({
    ...common,
    type: z.literal("track").optional(),
    event: z.string().min(1).max(255),
    properties: jsonObject.nullish(),
  })
  .refine(needsId, needsIdMessage);
export const pageSchema = z
  .object({
    ...common,
    type: z.literal("page").optional(),
    name: z.string().max(255).nullish(),
    category: z.string().max(255).nullish(),
    properties: jsonObject.nullish(),
  })
  .refine(needsId, needsIdMessage);
export const screenSchema = z
  .object({
    ...common,
    type: z.literal("screen").optional(),
    name: z.string().max(255).nullish(),
    properties: jsonObject.nullish(),
  })
  .refine(needsId, needsIdMessage);
export const groupSchema = z
  .object({ ...common, type: z.literal("group").optional(), groupId: id, traits: jsonObject.nullish() })
  .refine(needsId, needsIdMessage);
export const aliasSchema = z.object({
  ...common,
  type: z.literal("alias").optional(),
  userId: id,
  previousId: id,
});

export const CALL_TYPES = ["identify", "track", "page", "screen", "group", "alias"] as const;
export type CallType = (typeof CALL_TYPES)[number];

export const callSchemas = {
  identify: identifySchema,
  track: trackSchema,
  page: pageSchema,
  screen: screenSchema,
  group: groupSchema,
  alias: aliasSchema,
} as const;

export type TrackingMessage = {
  type: CallType;
  userId?: string | null | undefined;
  anonymousId?: string | null | undefined;
  previousId?: string | null | undefined;
  groupId?: string | undefined;
  messageId?: string | null | undefined;
  timestamp?: string | null | undefined;
  originalTimestamp?: string | null | undefined;
  sentAt?: string | null | undefined;
  context?: Record<string, unknown> | null | undefined;
  integrations?: Record<string, unknown> | null | undefined;
  event?: string;
  name?: string | null | undefined;
  category?: string | null | undefined;
  properties?: Record<string, unknown> | null | undefined;
  traits?: Record<string, unknown> | null | undefined;
};

export const batchSchema = z.object({
  batch: z.array(z.unknown()).max(2500),
  context: jsonObject.nullish(),
  integrations: jsonObject.nullish(),
  sentAt: isoTime.nullish(),
  writeKey: z.string().nullish(),
});

export const LIMITS = {
  eventBytes: 32 * 1024,
  batchBytes: 500 * 1024,
  batchEvents: 2500,
  maxDepth: 32,
  futureToleranceMs: 24 * 3600 * 1000,
} as const;
