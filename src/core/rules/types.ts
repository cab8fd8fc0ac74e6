// What the arbiter reads and what it answers. The shapes are structural so the compiled strategy's `Rules`,
// `Channel` and `Via` fit them as they are, while core stays free of the strategy layer.
import type { ContactKind, CustomerFacts } from "../condition/subject.ts";
import type { SaltPeriod } from "../experiment/index.ts";

export interface FrequencyRuleInput {
  max: number;
  perMs: number;
  /** null: every channel. */
  channels: readonly string[] | null;
}

export interface QuietHoursInput {
  /** Minutes after local midnight; start > end means the period crosses midnight. */
  start: number;
  end: number;
}

export interface RulesInput {
  consent: "opt_in" | "opt_out";
  quietHours: QuietHoursInput | null;
  frequency: readonly FrequencyRuleInput[];
  minGapMs: number;
  channelOrder: readonly string[];
}

export interface LimitInput {
  count: number;
  perMs: number;
}

export interface ChannelInput {
  name: string;
  kind: string;
  contact: ContactKind;
  cost: number;
  capacity: LimitInput | null;
  rate: LimitInput | null;
}

export interface StrategyInput {
  /** The workspace's time zone: quiet hours use it when the customer's is missing or unknown. */
  timezone: string;
  rules: RulesInput;
  channels: Readonly<Record<string, ChannelInput>>;
}

export type ViaInput = { kind: "channels"; channels: readonly string[] } | { kind: "best" };

/** Either the answer itself, or what computing it needs. */
export type GlobalControlInput = boolean | { periods: readonly SaltPeriod[] };
export type ScenarioControlInput = boolean | { salt: string; scope: string; control: number };

/** Why an address cannot take messages although it is on the profile. */
export type Undeliverable = "hard_bounced" | "invalid" | "blocked";

export type CustomerFactsInput = Pick<
  CustomerFacts,
  "customer_id" | "email" | "phone" | "telegram_chat_id" | "timezone" | "consents" | "preferred_channel"
>;

export interface ArbiterCustomer {
  facts: CustomerFactsInput;
  /** The customer, or one of their identifiers, is on the erasure suppression list. */
  erased: boolean;
  globalControl: GlobalControlInput;
  /** By channel name: addresses that bounced hard, were found invalid, or blocked the sender. */
  undeliverable?: Readonly<Record<string, Undeliverable>>;
  /** Whether the customer has at least one live push subscription (the `push` contact point). */
  pushSubscribed?: boolean;
}

export interface MessageRequest {
  /** The caller's handle for the message (e.g. entry and step); echoed in round results. */
  id: string;
  scenario: string;
  kind: "marketing" | "transactional";
  priority: number;
  via: ViaInput;
  onQuietHours: "defer" | "drop";
  onFrequencyCap: "skip" | "defer";
  /** Channel names the template has a body for; null: every channel. */
  templateChannels: readonly string[] | null;
  scenarioControl: ScenarioControlInput;
  /** Global-control membership recorded when the journey began; it wins over `customer.globalControl`. */
  globalControl?: boolean;
  /** When the message was first decided: frequency deferrals end 72 h after it. Absent: now. */
  firstDecidedAt?: Date;
}

/** A message actually sent to the customer; suppressed, deferred or failed ones are not history. */
export interface SentMessage {
  at: Date;
  channel: string;
  kind: "marketing" | "transactional";
}

/** The customer's engagement on one channel over the last 6 months. */
export interface ChannelEngagement {
  messages: number;
  opens: number;
  clicks: number;
}

/** Sends already counted in the current window of a limit; `windowEnd` is when the count starts afresh. */
export interface WindowUsage {
  used: number;
  windowEnd: Date;
}

export interface ChannelUsage {
  capacity?: WindowUsage;
  rate?: WindowUsage;
}

export interface ArbiterContext {
  now: Date;
  customer: ArbiterCustomer;
  strategy: StrategyInput;
  /** The customer's sent messages, at least as far back as the longest frequency window. */
  history: readonly SentMessage[];
  /** By channel name. */
  engagement?: Readonly<Record<string, ChannelEngagement>>;
  /** By channel name: the whole workspace's use of the channel's limits. */
  usage?: Readonly<Record<string, ChannelUsage>>;
}

export interface ArbiterInput extends ArbiterContext {
  request: MessageRequest;
}

export interface RoundInput extends ArbiterContext {
  requests: readonly MessageRequest[];
}

export type CheckName =
  | "erased"
  | "control_group"
  | "consent"
  | "channel_choice"
  | "quiet_hours"
  | "frequency"
  | "min_gap"
  | "priority"
  | "capacity";

export interface TraceEntry {
  check: CheckName;
  result: "passed" | "failed" | "skipped" | "note";
  detail: string;
  channel?: string;
}

export type SuppressReason =
  | "erased"
  | "control_group"
  | "no_template"
  | "no_consent"
  | "unreachable"
  | "quiet_hours_dropped"
  | "frequency_capped";

export type DeferReason = "quiet_hours" | "frequency_capped" | "capacity";

/** How the channel was chosen. */
export type ChoiceReason = "only_channel" | "preference" | "engagement" | "channel_order";

export type Decision =
  | { fate: "send"; channel: string; reasons: ChoiceReason[]; trace: TraceEntry[] }
  | { fate: "suppressed"; reason: SuppressReason; channel: string | null; trace: TraceEntry[] }
  | { fate: "deferred"; reason: DeferReason; until: Date; channel: string; trace: TraceEntry[] };

export interface RoundResult {
  request: MessageRequest;
  decision: Decision;
}
