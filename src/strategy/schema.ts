// The zod schema of the strategy document as written (YAML → plain values): the shape, the value formats
// (durations, percentages, times) and the enumerations. Cross-references (a send naming a template that exists,
// conditions that parse) are checked in references.ts; compile.ts turns the checked document into `Strategy`.
import { z } from "zod";
import {
  DURATION_HINT,
  type Parsed,
  parseDuration,
  parsePercent,
  parseQuietHours,
  parseRate,
  parseTimeOfDay,
} from "./values.ts";

export type {
  Channel,
  ChannelKind,
  Condition,
  Experiment,
  FrequencyRule,
  Goal,
  Rules,
  Scenario,
  Segment,
  Stage,
  Step,
  Strategy,
  Template,
  TemplateBody,
  Trigger,
  Via,
  WaitFor,
} from "./types.ts";

/** Marks an unknown-key message so the diagnostics can offer the known keys of that very object. */
export const KNOWN_KEYS_MARK = "\u0000known:";

function strict<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).join(",");
  return z.strictObject(shape, {
    error: (iss) => (iss.code === "unrecognized_keys" ? `${KNOWN_KEYS_MARK}${known}` : undefined),
  });
}

/** A string value in one of the small formats of values.ts, with the parser's own words as the error. */
function formatted(code: string, hint: string, parse: (v: unknown) => Parsed<unknown>, examples: string[]) {
  return z
    .string({ error: (iss) => (parse(iss.input).ok ? undefined : { message: failure(parse(iss.input)) }) })
    .superRefine((s, ctx) => {
      const r = parse(s);
      if (!r.ok) ctx.addIssue({ code: "custom", message: r.message, params: { code, expected: hint } });
    })
    .meta({ description: hint, examples });
}

function failure(r: Parsed<unknown>): string {
  return r.ok ? "" : r.message;
}

export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const NAME_HINT = "a name of letters, digits and _ that starts with a letter or _ (at most 64 characters)";
export const nameSchema = z
  .string()
  .regex(NAME_PATTERN, { message: `not ${NAME_HINT}` })
  .meta({ description: NAME_HINT });

export const durationSchema = formatted("bad_duration", DURATION_HINT, (v) => parseDuration(v), [
  "30m",
  "2d",
]);
export const durationOrZeroSchema = formatted("bad_duration", DURATION_HINT, (v) => parseDuration(v, true), [
  "0s",
  "4h",
]);
export const percentSchema = formatted("bad_percent", "a percentage such as 5%", parsePercent, ["5%"]);
export const timeOfDaySchema = formatted("bad_time", "a time of day HH:MM", parseTimeOfDay, ["09:30"]);
const quietHoursSchema = formatted("bad_time", 'a time range "HH:MM-HH:MM"', parseQuietHours, [
  "21:00-09:00",
]);
const rateSchema = formatted("bad_rate", "a count per unit, e.g. 200/day or 50/s", parseRate, [
  "200/day",
  "50/s",
]);
const eventNameSchema = z
  .string()
  .min(1)
  .max(200)
  .meta({ description: "an event name, e.g. order_completed" });
export const conditionSchema = z.union([z.string().min(1).max(10_000), z.boolean()]).meta({
  description: 'a condition (see docs/conditions.md), e.g. "orders >= 1 and days_since_last_order > 45"',
});
const envNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "not an environment variable name" })
  .meta({
    description: "the name of an environment variable holding the secret (secrets are never in the file)",
  });
const money = z.number().min(0).max(1e12);

const goalSchema = strict({
  event: eventNameSchema,
  window: durationSchema,
  target: z.union([percentSchema, money]).meta({
    description: "a conversion rate such as 8%, or revenue per customer in the strategy currency (a number)",
  }),
  where: conditionSchema.optional(),
  description: z.string().optional(),
});

export const PROVIDERS = [
  "smtp",
  "smpp",
  "sms_http",
  "telegram",
  "webpush",
  "webhook",
  "call_center",
  "sink",
] as const;
const CONTACTS = ["email", "phone", "telegram", "push", "none"] as const;
const attributionWindowsSchema = strict({
  delivered: durationOrZeroSchema.optional(),
  opened: durationOrZeroSchema.optional(),
  clicked: durationOrZeroSchema.optional(),
}).meta({
  description:
    "how long after a delivery, open or click of this channel's message an order is attributed to it (default by " +
    "the channel's kind; 0s: that interaction is not a touch)",
});
const common = {
  cost: money.optional().meta({ description: "cost of one message in the strategy currency (default 0)" }),
  attribution_windows: attributionWindowsSchema.optional(),
  capacity: rateSchema.optional(),
  rate: rateSchema.optional(),
  description: z.string().optional(),
};
const channelSchema = z.discriminatedUnion("provider", [
  strict({
    provider: z.literal("smtp"),
    ...common,
    from: z.string().min(3),
    reply_to: z.string().optional(),
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    secure: z.boolean().optional(),
    user: z.string().optional(),
    user_env: envNameSchema.optional(),
    password_env: envNameSchema.optional(),
    pool: z.number().int().min(1).max(100).optional(),
  }),
  strict({
    provider: z.literal("smpp"),
    ...common,
    sender: z.union([z.string().min(1).max(16), z.number()]).optional(),
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    system_id: z.string().optional(),
    system_id_env: envNameSchema.optional(),
    password_env: envNameSchema.optional(),
    system_type: z.string().optional(),
  }),
  strict({
    provider: z.literal("sms_http"),
    ...common,
    url: z.url(),
    sender: z.union([z.string().min(1).max(16), z.number()]).optional(),
    token_env: envNameSchema.optional(),
  }),
  strict({
    provider: z.literal("telegram"),
    ...common,
    bot_token_env: envNameSchema.optional(),
    webhook_secret_env: envNameSchema.optional(),
    base_url: z.url().optional(),
    bot_username: z.string().optional(),
  }),
  strict({
    provider: z.literal("webpush"),
    ...common,
    vapid_subject: z.string().optional(),
    vapid_public_key: z.string().optional(),
    vapid_private_key_env: envNameSchema.optional(),
  }),
  strict({
    provider: z.literal("webhook"),
    ...common,
    url: z.url(),
    secret_env: envNameSchema.optional(),
    contact: z.enum(CONTACTS).optional(),
  }),
  strict({ provider: z.literal("call_center"), ...common }),
  strict({ provider: z.literal("sink"), ...common, contact: z.enum(CONTACTS).optional() }),
]);

const rulesSchema = strict({
  consent: z.enum(["opt_in", "opt_out"]).optional(),
  quiet_hours: quietHoursSchema.optional(),
  frequency: z
    .array(
      strict({
        max: z.number().int().min(1).max(10_000),
        per: durationSchema,
        channels: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  min_gap: durationOrZeroSchema.optional(),
  control_group: percentSchema.optional(),
  channel_order: z.array(z.string()).optional(),
});

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;
export const SCHEDULE_EVERY = ["day", "week", "month", ...WEEKDAYS] as const;
const localDateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$/, {
  message: "expected a local date and time YYYY-MM-DD HH:MM",
});
const triggerSchema = z.union([
  strict({ event: eventNameSchema, where: conditionSchema.optional() }),
  strict({ segment_entered: z.string() }),
  strict({ segment_exited: z.string() }),
  strict({ stage_entered: z.string() }),
  strict({ stage_left: z.string() }),
  strict({
    schedule: z.union([
      strict({ at: localDateTime }),
      strict({ every: z.enum(SCHEDULE_EVERY), time: timeOfDaySchema }),
    ]),
  }),
  strict({ api: z.literal(true) }),
]);

const viaSchema = z
  .union([z.string(), z.array(z.string()).min(1)])
  .meta({ description: "a channel name, a list of acceptable channels, or best" });
const traitValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export type RawVia = z.infer<typeof viaSchema>;
export type RawStep =
  | { send: string; via?: RawVia | undefined }
  | { wait: z.infer<typeof waitSchema> }
  | { branch: { if: string | boolean; steps: RawStep[] }[]; else?: RawStep[] | undefined }
  | { split: { percent: string; steps: RawStep[] }[] }
  | { exit_if: string | boolean }
  | { update: Record<string, string | number | boolean | null> }
  | {
      webhook: {
        url: string;
        method?: "POST" | "PUT" | undefined;
        body?: unknown;
        secret_env?: string | undefined;
      };
    }
  | { task: { script: string; channel?: string | undefined } }
  | { survey: "nps"; via?: RawVia | undefined; template?: string | undefined };

const waitSchema = z.union([
  durationSchema,
  strict({ until: timeOfDaySchema }),
  strict({ event: eventNameSchema, timeout: durationSchema, where: conditionSchema.optional() }),
]);

export const stepSchema: z.ZodType<RawStep> = z.lazy(() =>
  z.union([
    strict({ send: z.string(), via: viaSchema.optional() }),
    strict({ wait: waitSchema }),
    strict({
      branch: z.array(strict({ if: conditionSchema, steps: z.array(stepSchema) })).min(1),
      else: z.array(stepSchema).optional(),
    }),
    strict({ split: z.array(strict({ percent: percentSchema, steps: z.array(stepSchema) })).min(2) }),
    strict({ exit_if: conditionSchema }),
    strict({ update: z.record(z.string().min(1), traitValue) }),
    strict({
      webhook: strict({
        url: z.url({ protocol: /^https?$/, error: "expected an absolute http or https URL" }),
        method: z.enum(["POST", "PUT"]).optional(),
        body: z.unknown().optional(),
        secret_env: envNameSchema.optional(),
      }),
    }),
    strict({ task: strict({ script: z.string().min(1), channel: z.string().optional() }) }),
    strict({ survey: z.literal("nps"), via: viaSchema.optional(), template: z.string().optional() }),
  ]),
);

const scenarioSchema = strict({
  goal: z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? "every scenario names the goal it must achieve (one of 'goals')"
          : undefined,
    })
    .meta({ description: "the name of a goal: every scenario needs one" }),
  description: z.string().optional(),
  kind: z.enum(["marketing", "transactional"]).optional(),
  mode: z.enum(["live", "pilot"]).optional(),
  sample: percentSchema.optional(),
  audience: conditionSchema.optional(),
  trigger: triggerSchema,
  priority: z.number().int().min(0).max(100).optional(),
  reentry: durationSchema.optional(),
  exit_if: conditionSchema.optional(),
  exit_on_goal: z.boolean().optional(),
  on_quiet_hours: z.enum(["defer", "drop"]).optional(),
  on_frequency_cap: z.enum(["skip", "defer"]).optional(),
  steps: z.array(stepSchema).min(1),
  experiment: strict({
    variants: z.record(nameSchema, z.string()),
    control: percentSchema.optional(),
    winner: z.enum(["report", "route"]).optional().meta({
      description:
        "what a declared winner does: report (default) shows it; route sends every new entry outside the control arm to it",
    }),
  }).optional(),
});

export const emailBodySchema = strict({
  subject: z.string().min(1),
  html: z
    .string()
    .optional()
    .meta({ description: "inline HTML/MJML, or a path relative to the strategy file" }),
  text: z.string().optional().meta({ description: "plain text, or a path relative to the strategy file" }),
  preheader: z.string().optional(),
}).superRefine((b, ctx) => {
  if (b.html === undefined && b.text === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "an email needs html or text (or both)",
      params: { code: "missing_key" },
    });
  }
});
export const smsBodySchema = strict({ text: z.string().min(1) });
export const telegramBodySchema = strict({
  text: z.string().min(1),
  buttons: z.array(strict({ text: z.string().min(1), url: z.string().min(1) })).optional(),
});
export const pushBodySchema = strict({
  title: z.string().min(1),
  body: z.string().min(1),
  url: z.string().optional(),
  icon: z.string().optional(),
});
export const webhookBodySchema = strict({ body: z.unknown() });
export const callBodySchema = strict({ script: z.string().min(1) });
export const BODY_SCHEMAS = {
  email: emailBodySchema,
  sms: smsBodySchema,
  telegram: telegramBodySchema,
  push: pushBodySchema,
  webhook: webhookBodySchema,
  call: callBodySchema,
} as const;

/** Bodies are keyed by channel kind (email, sms, …) or by a channel's name; names are checked later. */
const templateSchema = z
  .object({
    email: emailBodySchema.optional(),
    sms: smsBodySchema.optional(),
    telegram: telegramBodySchema.optional(),
    push: pushBodySchema.optional(),
    webhook: webhookBodySchema.optional(),
    call: callBodySchema.optional(),
  })
  .catchall(z.record(z.string(), z.unknown()));

export const documentSchema = strict({
  version: z.literal(1),
  name: z.string().min(1).max(200),
  timezone: z.string().optional().meta({ description: "IANA time zone of the workspace (default UTC)" }),
  currency: z.string().meta({ description: "ISO 4217 code of all money amounts, e.g. EUR" }),
  goals: z.record(nameSchema, goalSchema).optional(),
  channels: z.record(nameSchema, channelSchema).optional(),
  rules: rulesSchema.optional(),
  stages: z.record(nameSchema, conditionSchema).optional(),
  segments: z.record(nameSchema, conditionSchema).optional(),
  scenarios: z.record(nameSchema, scenarioSchema).optional(),
  templates: z.record(nameSchema, templateSchema).optional(),
});

export type RawDocument = z.infer<typeof documentSchema>;
export type RawChannel = z.infer<typeof channelSchema>;
export type RawScenario = z.infer<typeof scenarioSchema>;
export type RawTrigger = z.infer<typeof triggerSchema>;
export type RawTemplate = z.infer<typeof templateSchema>;
