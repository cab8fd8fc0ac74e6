// The answer links of NPS surveys, answered without authentication: the signed token names the message, the
// customer and the score. GET /n/TOKEN records the score (one click answers; a later click on another score
// replaces it) and shows a thank-you page with an optional comment form; POST /n/TOKEN (the form) adds the comment.
// A token that fails verification is a 400 and changes nothing.
import type { FastifyInstance } from "fastify";
import type { Clock } from "../../core/clock.ts";
import type { Db } from "../../store/db.ts";
import { MAX_NPS_COMMENT, recordNpsAnswer } from "../../store/nps-answers.ts";
import { HttpError } from "../errors.ts";
import { escapeText, HTML_HEADERS, page, verified } from "./links.ts";

const MAX_FORM_BODY = 16 * 1024;

export function registerNpsLinks(app: FastifyInstance, db: Db, clock: Clock): void {
  void app.register(async (scope) => {
    // this scope only: the comment form posts application/x-www-form-urlencoded, not JSON
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "string", bodyLimit: MAX_FORM_BODY }, (_req, body, done) =>
      done(null, body),
    );
    const route = { exposeHeadRoute: false } as const;

    scope.get("/n/*", route, async (req, reply) => {
      const claims = await verified(db, req, "nps");
      const score = claims.score ?? 0;
      const r = await recordNpsAnswer(db, { ...subject(claims), score, source: "link", at: clock.now() });
      if (r.outcome === "no_customer") return reply.headers(HTML_HEADERS).send(gonePage());
      return reply.headers(HTML_HEADERS).send(thanksPage(score));
    });

    scope.post("/n/*", route, async (req, reply) => {
      const claims = await verified(db, req, "nps");
      const comment = commentOf(req.body);
      const r = await recordNpsAnswer(db, {
        ...subject(claims),
        score: claims.score ?? 0,
        source: "form",
        at: clock.now(),
        // an empty form leaves an earlier comment as it is
        ...(comment ? { comment } : {}),
      });
      if (r.outcome === "no_customer") return reply.headers(HTML_HEADERS).send(gonePage());
      return reply
        .headers(HTML_HEADERS)
        .send(page("Thank you", "<h1>Thank you</h1><p>Your comment was received.</p>"));
    });
  });
}

function subject(c: { workspaceId: number; messageId: string; customerId: string; channel: string }) {
  return { workspaceId: c.workspaceId, messageId: c.messageId, customerId: c.customerId, channel: c.channel };
}

/** The `comment` field of a form body; a body that is not a form is refused with the field named. */
function commentOf(body: unknown): string {
  if (body === undefined || body === null || body === "") return "";
  if (typeof body !== "string")
    throw new HttpError(400, "invalid_form", "the form could not be read", "comment");
  const value = new URLSearchParams(body).get("comment") ?? "";
  if (value.length > MAX_NPS_COMMENT) {
    throw new HttpError(
      400,
      "invalid_form",
      `the comment is longer than ${MAX_NPS_COMMENT} characters`,
      "comment",
    );
  }
  return value;
}

function thanksPage(score: number): string {
  return page(
    "Thank you",
    `<h1>Thank you!</h1><p>You answered <b>${escapeText(String(score))}</b> out of 10. Clicked the wrong number?
Click another one in the message: the last answer counts.</p>
<form method="post" action=""><p><label for="comment">Anything you would like to tell us? (optional)</label></p>
<p><textarea id="comment" name="comment" rows="5" maxlength="${MAX_NPS_COMMENT}" style="width:100%"></textarea></p>
<button type="submit">Send</button></form>`,
  );
}

function gonePage(): string {
  return page("Thank you", "<h1>Thank you</h1><p>This survey is closed.</p>");
}
