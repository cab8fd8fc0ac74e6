// The web tracking snippet served at /t.js.
import type { FastifyInstance } from "fastify";

export function registerSnippet(app: FastifyInstance): void {
  app.get("/t.js", async (_req, reply) => {
    reply.type("application/javascript; charset=utf-8");
    return "/* tact snippet: not yet built */";
  });
}
