// The arbiter (SPEC §5): communication rules as pure functions. `decide` judges one message, `decideRound` the
// several due for one customer at once; the helpers are exported for the engine, the simulator and the reports.

export { chooseTimeZone, isKnownTimeZone, type LocalTime, localTime, type ZoneChoice } from "../time-zone.ts";
export { decide, decideRound } from "./arbiter.ts";
export { type LimitWindow, limitWindow } from "./capacity.ts";
export {
  byChannelOrder,
  engagementRate,
  MIN_CHANNELS_COMPARED,
  MIN_MESSAGES_PER_CHANNEL,
} from "./channel-choice.ts";
export { type ChannelStatus, channelStatus, consentState, undeliverableChannels } from "./consent.ts";
export { inGlobalControlGroup, inScenarioControlGroup } from "./control-group.ts";
export { earliestAllowed, MAX_FREQUENCY_DEFERRAL_MS, ruleApplies } from "./frequency.ts";
export { isQuiet, quietAtMinute, quietPeriodEnd } from "./quiet-hours.ts";
export type {
  ArbiterContext,
  ArbiterCustomer,
  ArbiterInput,
  ChannelEngagement,
  ChannelInput,
  ChannelUsage,
  CheckName,
  ChoiceReason,
  CustomerFactsInput,
  Decision,
  DeferReason,
  FrequencyRuleInput,
  GlobalControlInput,
  LimitInput,
  MessageRequest,
  QuietHoursInput,
  RoundInput,
  RoundResult,
  RulesInput,
  ScenarioControlInput,
  SentMessage,
  StrategyInput,
  SuppressReason,
  TraceEntry,
  Undeliverable,
  ViaInput,
  WindowUsage,
} from "./types.ts";
