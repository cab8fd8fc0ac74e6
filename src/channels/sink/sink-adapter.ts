// The sink channel: accepts every message and keeps it in memory, for tests, the demo and simulation. An
// optional responder scripts the provider's answers (retries, failures) so the engine's handling of them can
// be exercised without a real provider.
import type { Channel, ChannelKind } from "../../strategy/types.ts";
import type { ChannelAdapter, ConfigProblem, OutboundMessage, SendResult } from "../channel.ts";

export interface SinkOptions {
  /** decides each send's result; default: sent */
  respond?: (message: OutboundMessage) => SendResult | Promise<SendResult>;
  /** told of every message after its result is known */
  onSend?: (message: OutboundMessage, result: SendResult) => void;
  /** keep at most this many messages in memory (the oldest are dropped); default 100,000 */
  keep?: number;
}

export interface SunkMessage {
  message: OutboundMessage;
  result: SendResult;
}

export class SinkAdapter implements ChannelAdapter {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly #records: SunkMessage[] = [];
  #sent = 0;
  #closed = false;

  constructor(
    channel: Pick<Channel, "name" | "kind">,
    private readonly opts: SinkOptions = {},
  ) {
    this.name = channel.name;
    this.kind = channel.kind;
  }

  checkConfig(_env: NodeJS.ProcessEnv): ConfigProblem[] {
    return [];
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (this.#closed) return { status: "retry", afterMs: 1_000, reason: "the sink channel is closed" };
    const result: SendResult = this.opts.respond
      ? await this.opts.respond(message)
      : { status: "sent", providerId: `sink-${message.workspaceId}-${message.messageId}-${message.attempt}` };
    if (result.status === "sent") this.#sent++;
    this.#records.push({ message, result });
    const keep = this.opts.keep ?? 100_000;
    if (this.#records.length > keep) this.#records.splice(0, this.#records.length - keep);
    this.opts.onSend?.(message, result);
    return result;
  }

  /** Every recorded attempt, oldest first (bounded by `keep`). */
  get records(): readonly SunkMessage[] {
    return this.#records;
  }

  /** The messages accepted as sent, oldest first (bounded by `keep`). */
  get messages(): OutboundMessage[] {
    return this.#records.filter((r) => r.result.status === "sent").map((r) => r.message);
  }

  /** How many messages were accepted since the start, however many are kept. */
  get sentCount(): number {
    return this.#sent;
  }

  clear(): void {
    this.#records.length = 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
