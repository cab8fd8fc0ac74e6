// Which adapter serves which provider. The engine asks for a channel's adapter here and never looks at the
// provider itself; a new provider is a new folder and one line in DEFAULT_FACTORIES.
import { PROVIDER_KIND } from "../strategy/channel-kinds.ts";
import type { Channel, Provider } from "../strategy/types.ts";
import type { AdapterDeps, ChannelAdapter, ConfigProblem } from "./channel.ts";

export type { AdapterDeps } from "./channel.ts";

import { SmtpAdapter } from "./email/smtp-adapter.ts";
import { SinkAdapter, type SinkOptions } from "./sink/sink-adapter.ts";
import { SmsHttpAdapter } from "./sms/sms-http-adapter.ts";
import { TelegramAdapter } from "./telegram/telegram-adapter.ts";

export type AdapterFactory = (channel: Channel, deps: AdapterDeps) => ChannelAdapter;

export const DEFAULT_FACTORIES: Readonly<Partial<Record<Provider, AdapterFactory>>> = {
  smtp: (channel, deps) => new SmtpAdapter(channel, deps),
  sink: (channel) => new SinkAdapter(channel),
  telegram: (channel, deps) => new TelegramAdapter(channel, deps),
  sms_http: (channel, deps) => new SmsHttpAdapter(channel, deps),
};

export type AdapterResult = { ok: true; adapter: ChannelAdapter } | { ok: false; problems: ConfigProblem[] };

/**
 * Adapters of a strategy's channels, made on first use and kept (they hold connection pools) until `close`.
 * A channel whose settings change gets a new adapter; the old one is closed.
 */
export class ChannelRegistry {
  readonly #factories: Readonly<Partial<Record<Provider, AdapterFactory>>>;
  readonly #open = new Map<string, { fingerprint: string; adapter: ChannelAdapter }>();

  constructor(
    private readonly deps: AdapterDeps,
    factories: Readonly<Partial<Record<Provider, AdapterFactory>>> = DEFAULT_FACTORIES,
  ) {
    this.#factories = factories;
  }

  /** A registry that sends every channel into one kind of adapter, e.g. sinks for simulation. */
  static every(deps: AdapterDeps, factory: AdapterFactory): ChannelRegistry {
    const all = Object.fromEntries(Object.keys(PROVIDER_KIND).map((p) => [p, factory]));
    return new ChannelRegistry(deps, all);
  }

  /** Problems that stop the channel from sending, without contacting the provider. */
  check(channel: Channel): ConfigProblem[] {
    const r = this.adapter(channel);
    return r.ok ? r.adapter.checkConfig(this.deps.env) : r.problems;
  }

  adapter(channel: Channel): AdapterResult {
    const fingerprint = `${channel.provider}:${JSON.stringify(channel.settings)}`;
    const open = this.#open.get(channel.name);
    if (open?.fingerprint === fingerprint) return { ok: true, adapter: open.adapter };
    const factory = this.#factories[channel.provider];
    if (!factory) {
      return {
        ok: false,
        problems: [{ setting: "provider", message: `no adapter sends through ${channel.provider} yet` }],
      };
    }
    const adapter = factory(channel, this.deps);
    if (open) {
      open.adapter
        .close()
        .catch((err: unknown) => this.deps.logger?.error({ err }, "closing a channel failed"));
    }
    this.#open.set(channel.name, { fingerprint, adapter });
    return { ok: true, adapter };
  }

  async close(): Promise<void> {
    const adapters = [...this.#open.values()].map((o) => o.adapter);
    this.#open.clear();
    await Promise.allSettled(adapters.map((a) => a.close()));
  }
}

/** Sink adapters for every channel, all reporting to one callback: simulation and the demo. */
export function sinkFactory(opts: SinkOptions = {}): AdapterFactory {
  return (channel) => new SinkAdapter(channel, opts);
}
