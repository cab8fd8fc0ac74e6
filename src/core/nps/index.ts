// Net Promoter Score, pure: which group a score belongs to, reading a score from a text reply (SMS, Telegram),
// and the score of a set of answers with its 95% confidence interval. No I/O; the reports count in SQL and call
// `npsFigures` with the counts.

export type NpsGroup = "promoter" | "passive" | "detractor";

/** 9–10 promoters, 7–8 passives, 0–6 detractors. */
export function npsGroup(score: number): NpsGroup {
  return score >= 9 ? "promoter" : score >= 7 ? "passive" : "detractor";
}

export function isNpsScore(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 10;
}

export type NpsReply = { ok: true; score: number; comment: string | null } | { ok: false; reason: string };

/** Longest reply read; anything longer is not an answer to a 0–10 question. */
export const MAX_REPLY_LENGTH = 2000;

// The reply starts with the score (a whole number 0–10), optionally written as "9/10", "9 of 10", "9 out of 10"
// or "9 из 10"; what follows after a separator is the comment. A reply that does not start with a score is not an
// answer: "call me at 5" must not become a 5, nor "9am" a 9.
const LEAD = /^[\s"'«([]*/u;
const SCORE = /^(\d+)([.,]\d+)?/u;
const OUT_OF_TEN = /^\s*(?:\/|out of|of|из)\s*10(?!\d)/iu;
const SEPARATORS = /^[\s.,;:!?)\]»"'—–-]*/u;

/** Reads an NPS answer from a text reply, e.g. "9", "10!", "7/10 slow delivery", "3 - the courier was late". */
export function parseNpsReply(text: string): NpsReply {
  if (typeof text !== "string") return { ok: false, reason: "the reply is not text" };
  if (text.length > MAX_REPLY_LENGTH)
    return { ok: false, reason: `the reply is longer than ${MAX_REPLY_LENGTH} characters` };
  let rest = text.trim().replace(LEAD, "");
  const m = SCORE.exec(rest);
  if (!m) return { ok: false, reason: "the reply does not start with a score from 0 to 10" };
  const [whole = "", digits = "", fraction] = m;
  if (fraction) return { ok: false, reason: `${whole} is not a whole number from 0 to 10` };
  const score = Number(digits);
  if (!isNpsScore(score)) return { ok: false, reason: `${digits} is not a score from 0 to 10` };
  rest = rest.slice(whole.length);
  rest = rest.replace(OUT_OF_TEN, "");
  if (/^[\p{L}\p{N}]/u.test(rest))
    return { ok: false, reason: "the reply does not start with a score from 0 to 10" };
  const comment = rest.replace(SEPARATORS, "").trim();
  if (/^\d/.test(comment)) return { ok: false, reason: "the reply holds more than one score" };
  return { ok: true, score, comment: comment === "" ? null : comment };
}

export interface NpsCounts {
  promoters: number;
  passives: number;
  detractors: number;
}

export interface NpsFigures extends NpsCounts {
  responses: number;
  /** % promoters − % detractors, −100…100; null without responses */
  nps: number | null;
  /** 95% interval of the NPS, clamped to −100…100; null without responses */
  ci95: { low: number; high: number } | null;
  /** the standard error of the NPS, in points */
  standardError: number | null;
}

const Z95 = 1.959963984540054;

/**
 * NPS and its 95% interval. Each answer is one draw of a trinomial (promoter +1, passive 0, detractor −1); the
 * NPS is 100 × the mean, whose variance is (p₊ + p₋ − (p₊ − p₋)²) / n. The interval is the normal (Wald) one,
 * NPS ± 1.96 × 100 × √variance, clamped to −100…100: fine from a few dozen answers, too narrow below that.
 */
export function npsFigures(counts: NpsCounts): NpsFigures {
  const c = { promoters: counts.promoters, passives: counts.passives, detractors: counts.detractors };
  const n = c.promoters + c.passives + c.detractors;
  if (n === 0) return { ...c, responses: 0, nps: null, ci95: null, standardError: null };
  const pp = c.promoters / n;
  const pd = c.detractors / n;
  const mean = pp - pd;
  const variance = Math.max(0, (pp + pd - mean * mean) / n);
  const se = 100 * Math.sqrt(variance);
  const nps = 100 * mean;
  const clamp = (x: number) => Math.min(100, Math.max(-100, x));
  return {
    ...c,
    responses: n,
    nps: round(nps),
    ci95: { low: round(clamp(nps - Z95 * se)), high: round(clamp(nps + Z95 * se)) },
    standardError: round(se),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
