// The running system, in one place: the membership refresher, the scenario runner, the outbox (decide, then
// send), and the calls of webhook steps. `runOnce(now)` does all due work up to `now`: tests and simulation drive
// it on a virtual clock. `start` runs it in the background: the pipeline at once when woken (new data) and on a
// short poll otherwise, and the sender in a loop of its own.
import type { Logger } from "pino";
import type { ChannelRegistry } from "../channels/registry.ts";
import type { WebhookTransport } from "../channels/webhook/webhook-http.ts";
import type { Clock } from "../core/clock.ts";
import type { Db } from "../store/db.ts";
import { dueWork } from "./due-work.ts";
import { MembershipRefresher } from "./membership-refresher.ts";
import { decideInLanes } from "./outbox-decide.ts";
import { OutboxSender } from "./outbox-send.ts";
import { ScenarioRunner } from "./scenario-runner.ts";
import { StrategyCache, strategyModels } from "./strategy-cache.ts";
import { WebhookSender } from "./webhook-calls.ts";

export interface EngineOptions {
  publicUrl: string;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  pollMs?: number;
  batchSize?: number;
  sendConcurrency?: number;
  /** decide rounds run at once by each pass (PostgreSQL only; the embedded database runs one statement at a time) */
  decideLanes?: number;
  leaseMs?: number;
  registry?: (workspaceId: number) => ChannelRegistry;
  /** the HTTP client of webhook steps (simulation answers them without a network) */
  webhookTransport?: WebhookTransport;
}

export interface EngineWork {
  memberships: number;
  events: number;
  entries: number;
  decided: number;
  sent: number;
  webhooks: number;
}

export class Engine {
  readonly cache = new StrategyCache();
  readonly #refresher: MembershipRefresher;
  readonly #runner: ScenarioRunner;
  readonly #sender: OutboxSender;
  readonly #webhooks: WebhookSender;
  readonly #batch: number;
  readonly #decideLanes: number;
  readonly #pipeline: Loop;
  readonly #sending: Loop;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    opts: EngineOptions,
  ) {
    this.#batch = opts.batchSize ?? 1000;
    this.#decideLanes = db.backend === "postgres" ? (opts.decideLanes ?? 2) : 1;
    const pollMs = opts.pollMs ?? 1000;
    this.#refresher = new MembershipRefresher(db, strategyModels(this.cache), clock);
    this.#runner = new ScenarioRunner(db, this.cache, { batchSize: this.#batch });
    this.#sender = new OutboxSender(db, this.cache, {
      publicUrl: opts.publicUrl,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.sendConcurrency ? { concurrency: opts.sendConcurrency } : {}),
      ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
      ...(opts.registry ? { registry: opts.registry } : {}),
    });
    this.#webhooks = new WebhookSender(db, {
      logger: opts.logger,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.sendConcurrency ? { concurrency: opts.sendConcurrency } : {}),
      ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
      ...(opts.webhookTransport ? { transport: opts.webhookTransport } : {}),
    });
    this.#pipeline = new Loop(
      () => this.#passes(undefined, false),
      pollMs,
      (err) => opts.logger?.error({ err }, "engine round failed"),
    );
    this.#sending = new Loop(
      () => this.#sender.runOnce(() => clock.now()),
      pollMs,
      (err) => opts.logger?.error({ err }, "sending failed"),
    );
  }

  /**
   * Does every piece of work due at `now`, until none is left. Each pass takes one batch of every stage in the
   * pipeline's order (memberships, scenarios, decide, send, webhooks), so under a steady stream of events the work
   * keeps flowing to the channels rather than waiting for an inbox that never empties. Without `at`, each pass
   * reads the clock, so work that falls due while the engine is busy is taken up too.
   */
  runOnce(at?: Date): Promise<EngineWork> {
    return this.#passes(at, true);
  }

  async #passes(at: Date | undefined, send: boolean): Promise<EngineWork> {
    const work: EngineWork = { memberships: 0, events: 0, entries: 0, decided: 0, sent: 0, webhooks: 0 };
    for (;;) {
      const now = at ?? this.clock.now();
      // A stage runs when the probe found work due for it, or when a stage before it in this pass did work (which
      // may have made some due now): the same passes as without the probe, less the transactions that find nothing.
      const due = await dueWork(this.db.pool, now, this.#sender.leaseBefore(now));
      const memberships = due.memberships ? await this.#refresher.batch(now) : 0;
      // a membership change may start a scenario: then every stage after it runs
      const { scheduled, events, entries } = await this.#runner.batch(
        now,
        memberships > 0 ? { ...due, inbox: true, entries: true } : due,
      );
      const upstream = memberships + scheduled + events + entries > 0;
      const decided =
        due.decide || upstream
          ? await decideInLanes(this.db, this.cache, now, this.#batch, this.#decideLanes)
          : 0;
      if (decided > 0 && !send) this.#sending.wake();
      const sent = send && (due.send || upstream || decided > 0) ? await this.#sender.batch(now) : 0;
      const webhooks = due.webhooks || upstream ? await this.#webhooks.batch(now) : 0;
      work.memberships += memberships;
      work.events += events;
      work.entries += entries;
      work.decided += decided;
      work.sent += sent;
      work.webhooks += webhooks;
      if (memberships + scheduled + events + entries + decided + sent + webhooks === 0) return work;
    }
  }

  /**
   * Runs in the background: the pipeline up to the decide, at once when woken (new data) and on a short poll
   * otherwise; and the sender in a loop of its own, woken by every decide, so channels are fed while the pipeline
   * works on the next batch.
   */
  start(): void {
    this.#pipeline.start();
    this.#sending.start();
  }

  wake(): void {
    this.#pipeline.wake();
  }

  async stop(): Promise<void> {
    await Promise.all([this.#pipeline.stop(), this.#sending.stop()]);
    await this.#sender.close();
  }
}

/** Background work: run at once when woken, else every `pollMs`; never two runs at a time. */
class Loop {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #again = false;
  #stopped = true;

  constructor(
    private readonly work: () => Promise<unknown>,
    private readonly pollMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  wake(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#stopped || this.#running) return;
    this.#running = this.work()
      .catch(this.onError)
      .finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : this.pollMs);
      });
  }
}
