// Signed tracking and unsubscribe links. A token carries who and what it is about (workspace, message,
// customer, channel, kind and, for clicks, the exact target) and an HMAC-SHA256 over them with the workspace's
// link secret, so nobody can forge an unsubscribe, inflate opens, or turn the click redirect into an open
// redirect. Tokens are base64url and never expire: a link in an old email keeps working.
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { MessageLinks } from "./channel.ts";

export type LinkKind = "open" | "click" | "unsubscribe" | "confirm" | "nps" | "reference";

export interface LinkClaims {
  workspaceId: number;
  messageId: string;
  customerId: string;
  /** the strategy's channel name: the consent an unsubscribe withdraws */
  channel: string;
  kind: LinkKind;
  /** clicks only: the http(s) URL the redirect leads to */
  target?: string;
  /** NPS answers only: the score 0–10 the link stands for */
  score?: number;
}

export type VerifiedLink = { ok: true; claims: LinkClaims } | { ok: false; reason: string };

/** Longest token accepted; longer input is refused before any decoding. */
export const MAX_TOKEN_LENGTH = 4096;
const KIND_CODE = {
  open: "o",
  click: "c",
  unsubscribe: "u",
  confirm: "k",
  nps: "n",
  reference: "r",
} as const satisfies Record<LinkKind, string>;
type KindCode = (typeof KIND_CODE)[LinkKind];
const CODES = Object.values(KIND_CODE) as [KindCode, ...KindCode[]];
const CODE_KIND = Object.fromEntries(Object.entries(KIND_CODE).map(([kind, code]) => [code, kind])) as Record<
  KindCode,
  LinkKind
>;
const DIGITS = /^[0-9]{1,19}$/;

const payloadSchema = z.object({
  w: z.number().int().positive().max(2_147_483_647),
  m: z.string().regex(DIGITS),
  c: z.string().regex(DIGITS),
  h: z.string().min(1).max(100),
  k: z.enum(CODES),
  u: z.string().max(MAX_TOKEN_LENGTH).optional(),
  s: z.number().int().min(0).max(10).optional(),
});

/** Only absolute http(s) URLs are signed as click targets. */
export function isTrackableUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

function mac(secret: string, payload: string): Buffer {
  // the prefix keeps these MACs apart from any other use of the same secret
  return createHmac("sha256", secret).update(`tact-link-v1.${payload}`).digest();
}

export function signLink(secret: string, claims: LinkClaims): string {
  if (claims.kind === "click" && !(claims.target && isTrackableUrl(claims.target))) {
    throw new Error("a click link needs an absolute http(s) target");
  }
  if (claims.kind === "nps" && !isNpsScore(claims.score)) throw new Error("an NPS link needs a score 0–10");
  const body: z.input<typeof payloadSchema> = {
    w: claims.workspaceId,
    m: claims.messageId,
    c: claims.customerId,
    h: claims.channel,
    k: KIND_CODE[claims.kind],
  };
  if (claims.kind === "click") body.u = claims.target;
  if (claims.kind === "nps") body.s = claims.score;
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${payload}.${mac(secret, payload).toString("base64url")}`;
}

function decodePayload(token: string): z.output<typeof payloadSchema> | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const payload = token.split(".")[0] ?? "";
  if (!/^[A-Za-z0-9_-]+$/.test(payload)) return undefined;
  try {
    const r = payloadSchema.safeParse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The workspace a token claims to belong to, read before verification to find the secret that checks it. */
export function claimedWorkspace(token: string): number | undefined {
  return decodePayload(token)?.w;
}

export function verifyLink(secret: string, token: string, expected: LinkKind): VerifiedLink {
  const parts = token.split(".");
  const [payload, signature] = parts;
  if (parts.length !== 2 || !payload || !signature || !/^[A-Za-z0-9_-]+$/.test(signature)) {
    return { ok: false, reason: "the link is malformed" };
  }
  const given = Buffer.from(signature, "base64url");
  const want = mac(secret, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    return { ok: false, reason: "the link's signature does not match" };
  }
  const p = decodePayload(token);
  if (!p) return { ok: false, reason: "the link is malformed" };
  const kind = CODE_KIND[p.k];
  if (kind !== expected) return { ok: false, reason: `this is not a ${expected} link` };
  if (kind === "click" && !(p.u && isTrackableUrl(p.u))) {
    return { ok: false, reason: "the link has no http(s) target" };
  }
  if (kind === "nps" && !isNpsScore(p.s)) return { ok: false, reason: "the link has no score 0–10" };
  const claims: LinkClaims = { workspaceId: p.w, messageId: p.m, customerId: p.c, channel: p.h, kind };
  if (kind === "click") claims.target = p.u;
  if (kind === "nps") claims.score = p.s;
  return { ok: true, claims };
}

function isNpsScore(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 10;
}

/** The eleven answer links of an NPS survey, 0 to 10, under the public base URL (`/n/TOKEN`). */
export function npsLinks(baseUrl: string, secret: string, subject: LinkSubject): string[] {
  const base = baseUrl.replace(/\/+$/, "");
  return Array.from(
    { length: 11 },
    (_, score) => `${base}/n/${signLink(secret, { ...subject, kind: "nps", score })}`,
  );
}

export interface LinkSubject {
  workspaceId: number;
  messageId: string;
  customerId: string;
  channel: string;
}

/** The signed links of one message to one customer, under the public base URL. */
export function messageLinks(baseUrl: string, secret: string, subject: LinkSubject): MessageLinks {
  const base = baseUrl.replace(/\/+$/, "");
  const sign = (kind: LinkKind, target?: string) =>
    signLink(secret, target === undefined ? { ...subject, kind } : { ...subject, kind, target });
  return {
    baseUrl: base,
    unsubscribe: `${base}/u/${sign("unsubscribe")}`,
    confirm: `${base}/k/${sign("confirm")}`,
    openPixel: `${base}/o/${sign("open")}`,
    reference: sign("reference"),
    click: (target) => (isTrackableUrl(target) ? `${base}/c/${sign("click", target)}` : target),
  };
}
