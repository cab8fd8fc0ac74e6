// Admin API for templates: a preview of a template of the strategy in force, rendered for one real customer on
// every channel the template has a body for (or one), exactly as a message would be — strict variables included,
// so a preview that fails names the variable the customer lacks.
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import type { CustomerFacts } from "../../core/condition/index.ts";
import { type RenderedBody, renderMessage } from "../../engine/render/render-message.ts";
import { parseStored } from "../../engine/strategy-runtime.ts";
import type { Db } from "../../store/db.ts";
import { currentCustomerId } from "../../store/profiles.ts";
import { currentStrategyVersion, currentVersionNumber } from "../../store/strategies.ts";
import { loadFacts } from "../../store/subjects.ts";
import type { Principal } from "../../store/workspaces.ts";
import type { Channel, Strategy } from "../../strategy/types.ts";
import { templateBodyFor } from "../../strategy/types.ts";
import type { ApiRegistry } from "../api.ts";
import { HttpError } from "../errors.ts";

const previewBody = z.object({
  customerId: z.union([z.string().min(1).max(40), z.number().int().positive()]).transform(String),
  channel: z.string().min(1).max(100).optional(),
  event: z
    .object({
      name: z.string().min(1).max(200),
      properties: z.record(z.string(), z.unknown()).default({}),
      occurredAt: z.iso.datetime({ offset: true }).optional(),
    })
    .optional()
    .meta({ description: "the event that would have triggered the scenario" }),
  scenario: z
    .object({ name: z.string().min(1).max(200), context: z.record(z.string(), z.unknown()).default({}) })
    .optional(),
});

const previewResponse = z.object({
  template: z.string(),
  version: z.number(),
  customerId: z.string(),
  channels: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/** Links a real message gets from its channel; in a preview they point nowhere. */
const PREVIEW_LINKS = { unsubscribe_url: "#preview-unsubscribe", confirm_url: "#preview-confirm" };

async function customerFacts(db: Db, workspaceId: number, id: string): Promise<CustomerFacts | undefined> {
  const cid = await currentCustomerId(db, workspaceId, id);
  return cid ? (await loadFacts(db.pool, workspaceId, [cid])).get(cid) : undefined;
}

/** The strategy in force, parsed once per version: templates stay compiled between previews. */
function strategyInForce(db: Db) {
  const cache = new Map<number, { version: number; strategy: Strategy }>();
  return async (workspaceId: number) => {
    const version = await currentVersionNumber(db.pool, workspaceId);
    if (version === null) return null;
    const cached = cache.get(workspaceId);
    if (cached?.version === version) return cached;
    const stored = await currentStrategyVersion(db.pool, workspaceId);
    if (!stored) return null;
    const parsed = { version: stored.version, strategy: parseStored(stored) };
    cache.set(workspaceId, parsed);
    return parsed;
  };
}

function channelsToRender(strategy: Strategy, templateName: string, wanted: string | undefined): Channel[] {
  const template = strategy.templates[templateName];
  if (!template) return [];
  if (wanted !== undefined) {
    const channel = strategy.channels[wanted];
    if (!channel) {
      const known = Object.keys(strategy.channels).join(", ") || "none";
      throw new HttpError(
        404,
        "unknown_channel",
        `no channel '${wanted}' in the strategy (${known})`,
        "channel",
      );
    }
    return [channel];
  }
  // A sink takes any body; listing it would repeat another channel's.
  return Object.values(strategy.channels).filter(
    (c) => c.kind !== "sink" && templateBodyFor(template, c) !== undefined,
  );
}

export function registerTemplates(api: ApiRegistry, db: Db, clock: Clock): void {
  const inForce = strategyInForce(db);
  api.route(
    {
      method: "POST",
      url: "/api/v1/templates/{name}/preview",
      summary: "Render a template of the strategy in force for one customer, on each of its channels",
      tag: "templates",
      auth: "admin",
      params: z.object({ name: z.string().min(1).max(200) }),
      body: previewBody,
      response: previewResponse,
    },
    async ({ params, body, principal }) => {
      const workspace = (principal as Principal).workspace;
      const current = await inForce(workspace.id);
      if (!current)
        throw new HttpError(404, "no_strategy", "no strategy has been applied to this workspace yet");
      const { strategy, version } = current;
      const template = strategy.templates[params.name];
      if (!template)
        throw new HttpError(
          404,
          "not_found",
          `no template '${params.name}' in strategy version ${version}`,
          "name",
        );
      const customer = await customerFacts(db, workspace.id, body.customerId);
      if (!customer) throw new HttpError(404, "not_found", `no customer ${body.customerId}`, "customerId");
      const channels = channelsToRender(strategy, params.name, body.channel);
      if (channels.length === 0 || (body.channel && !templateBodyFor(template, channels[0] as Channel))) {
        throw new HttpError(
          404,
          "not_found",
          `template '${params.name}' has no body for ${body.channel ?? "any channel of the strategy"}`,
          "channel",
        );
      }
      const now = clock.now();
      const out: Record<string, RenderedBody> = {};
      for (const channel of channels) {
        const r = await renderMessage({
          template,
          channel,
          customer,
          event: body.event
            ? {
                name: body.event.name,
                type: "track",
                occurred_at: body.event.occurredAt ?? now,
                properties: body.event.properties,
              }
            : null,
          scenario: body.scenario ? { ...body.scenario, entered_at: now } : null,
          message: { id: "preview", ...PREVIEW_LINKS },
          strategy: { name: strategy.name, currency: strategy.currency, timezone: strategy.timezone },
          now,
        });
        if (!r.ok) {
          const details = { channel: channel.name, field: r.field, variable: r.variable };
          throw new HttpError(422, "render_failed", r.reason, r.variable ?? "", details);
        }
        out[channel.name] = r.body;
      }
      return { template: params.name, version, customerId: customer.customer_id, channels: out };
    },
  );
}
