// The links inside sent messages, answered without authentication: the signed token is the authority.
// GET /o/TOKEN (open pixel), GET /c/TOKEN (click redirect), GET /u/TOKEN (unsubscribe confirmation page) and
// POST /u/TOKEN (RFC 8058 one-click, and the page's button). A token that fails verification is a 400 and
// changes nothing. The routes live in their own Fastify scope with a body parser that takes any content type,
// because one-click unsubscribes arrive as `List-Unsubscribe=One-Click` form bodies, not JSON.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { claimedWorkspace, type LinkClaims, type LinkKind, verifyLink } from "../../channels/links.ts";
import type { Clock } from "../../core/clock.ts";
import type { Db } from "../../store/db.ts";
import { linkSecret, recordFeedback } from "../../store/message-feedback.ts";
import { HttpError } from "../errors.ts";

const PIXEL = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");
const MAX_UNSUBSCRIBE_BODY = 16 * 1024;
const REGISTERED = Symbol.for("tact.links.registered");

export const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

/** Registers the link routes on the app (once, however often it is called). */
export function registerLinks(app: FastifyInstance, db: Db, clock: Clock): void {
  const marked = app as unknown as Record<symbol, boolean>;
  if (marked[REGISTERED]) return;
  marked[REGISTERED] = true;
  void app.register(async (scope) => {
    // this scope only: the app's parser reads JSON, a one-click unsubscribe is a form body we do not need
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: MAX_UNSUBSCRIBE_BODY },
      (_req, _body, done) => done(null, undefined),
    );
    const route = { exposeHeadRoute: false } as const;

    scope.get("/o/*", route, async (req, reply) => {
      const claims = await verified(db, req, "open");
      await recordFeedback(db, { ...feedbackOf(claims), kind: "opened", at: clock.now() });
      return reply
        .header("content-type", "image/gif")
        .header("cache-control", "no-store, no-cache, must-revalidate, private")
        .send(PIXEL);
    });

    scope.get("/c/*", route, async (req, reply) => {
      const claims = await verified(db, req, "click");
      const target = claims.target ?? "";
      await recordFeedback(db, { ...feedbackOf(claims), kind: "clicked", url: target, at: clock.now() });
      return reply.header("cache-control", "no-store").redirect(target, 302);
    });

    scope.get("/u/*", route, async (req, reply) => {
      const claims = await verified(db, req, "unsubscribe");
      return reply.headers(HTML_HEADERS).send(confirmationPage(claims.channel));
    });

    scope.get("/k/*", route, async (req, reply) => {
      const claims = await verified(db, req, "confirm");
      await recordFeedback(db, { ...feedbackOf(claims), kind: "confirmed", at: clock.now() });
      return reply
        .headers(HTML_HEADERS)
        .send(
          page(
            "Subscription confirmed",
            `<h1>Thank you</h1><p>Your subscription through <b>${escapeText(claims.channel)}</b> is confirmed.</p>`,
          ),
        );
    });

    scope.post("/u/*", async (req, reply) => {
      const claims = await verified(db, req, "unsubscribe");
      await recordFeedback(db, { ...feedbackOf(claims), kind: "unsubscribed", at: clock.now() });
      return reply.headers(HTML_HEADERS).send(donePage(claims.channel));
    });
  });
}

export async function verified(db: Db, req: FastifyRequest, kind: LinkKind): Promise<LinkClaims> {
  const token = (req.params as Record<string, string | undefined>)["*"] ?? "";
  const workspaceId = claimedWorkspace(token);
  const secret = workspaceId === undefined ? undefined : await linkSecret(db, workspaceId, { create: false });
  const r = secret === undefined ? undefined : verifyLink(secret, token, kind);
  if (!r?.ok) {
    throw new HttpError(400, "invalid_link", r?.reason ?? "the link is malformed or was altered", "token");
  }
  return r.claims;
}

function feedbackOf(c: LinkClaims): Pick<LinkClaims, "workspaceId" | "messageId" | "customerId" | "channel"> {
  return { workspaceId: c.workspaceId, messageId: c.messageId, customerId: c.customerId, channel: c.channel };
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#222;color:#fff;cursor:pointer}</style>
</head><body>${body}</body></html>`;
}

export function escapeText(v: string): string {
  return v.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function confirmationPage(channel: string): string {
  return page(
    "Unsubscribe",
    `<h1>Unsubscribe?</h1><p>You will no longer receive marketing messages through <b>${escapeText(channel)}</b>.
Messages about your orders and account still arrive.</p>
<form method="post" action=""><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>`,
  );
}

function donePage(channel: string): string {
  return page(
    "Unsubscribed",
    `<h1>You are unsubscribed</h1><p>No more marketing messages will reach you through <b>${escapeText(channel)}</b>.</p>`,
  );
}
