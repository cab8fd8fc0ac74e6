// The HTTP server: tracking API, admin API, OpenAPI document, health, web snippet.

import { STATUS_CODES } from "node:http";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import type { Logger } from "pino";
import type { Clock } from "../core/clock.ts";
import { IngestQueue, type IngestQueueOptions } from "../ingest/ingest-queue.ts";
import type { Db } from "../store/db.ts";
import { KeyResolver } from "../store/workspaces.ts";
import { VERSION } from "../version.ts";
import { ApiRegistry, openApiDocument } from "./api.ts";
import { MAX_RAW_BODY, registerBodyParser } from "./body.ts";
import { errorBody, HttpError } from "./errors.ts";
import { registerMetrics } from "./metrics.ts";
import { registerApprovals, registerScenarioTrigger } from "./routes/approvals.ts";
import { registerChannelCallbacks } from "./routes/channel-callbacks.ts";
import { registerCustomers } from "./routes/customers.ts";
import { registerKeys } from "./routes/keys.ts";
import { registerLinks } from "./routes/links.ts";
import { registerMeasure } from "./routes/measure.ts";
import { registerNpsLinks } from "./routes/nps-links.ts";
import { registerReports } from "./routes/reports.ts";
import { registerScenarios } from "./routes/scenarios.ts";
import { registerStrategy } from "./routes/strategy.ts";
import { registerTelegramUpdates } from "./routes/telegram-updates.ts";
import { registerTemplates } from "./routes/templates.ts";
import { registerTracking } from "./routes/tracking.ts";
import { registerSnippet } from "./snippet.ts";

declare module "fastify" {
  interface FastifyInstance {
    /** the tracking API's ingestion queue */
    ingest: IngestQueue;
  }
}

export interface AppDeps {
  db: Db;
  clock: Clock;
  logger?: Logger | false;
  /** called after events were stored, so the membership refresher can run at once */
  onIngested?: () => void;
  /** how the tracking API queues and applies what it accepts (defaults: see IngestQueue) */
  ingest?: Omit<IngestQueueOptions, "clock" | "logger" | "onApplied">;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: (deps.logger || undefined) as FastifyBaseLogger | undefined,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_RAW_BODY,
    trustProxy: true,
    return503OnClosing: true,
    // Fastify answers a malformed URL or an over-long path parameter itself; keep the API's error shape.
    frameworkErrors: (err, _req, reply) => {
      const code = (err.code ?? "bad_request").replace(/^FST_ERR_/, "").toLowerCase();
      (reply as FastifyReply).code(err.statusCode ?? 400).send(errorBody(code, err.message));
    },
    // Node's HTTP parser refuses a request (headers too large, malformed, timed out) before Fastify sees it;
    // Fastify's default answer, with the API's error shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      const [status, code, message] =
        err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "timeout", "the request took too long to arrive"]
          : err.code === "HPE_HEADER_OVERFLOW"
            ? [431, "headers_too_large", "the request line and headers are larger than allowed"]
            : [400, "bad_request", "the request is not valid HTTP"];
      const body = JSON.stringify(errorBody(code, message));
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Content-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
  });
  const keys = new KeyResolver(deps.db);
  registerBodyParser(app);

  // CORS: the tracking API and the snippet are called from any site.
  app.addHook("onRequest", async (req, reply) => {
    if (!req.url.startsWith("/v1/") && req.url.split("?")[0] !== "/t.js") return;
    reply.header("Access-Control-Allow-Origin", req.headers.origin ?? "*");
    reply.header("Vary", "Origin");
    if (req.method === "OPTIONS") {
      reply
        .header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
        .header("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
        .header("Access-Control-Max-Age", "86400")
        .code(204)
        .send();
    }
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) {
      if (err.retryAfter !== undefined) reply.header("Retry-After", String(err.retryAfter));
      return reply.code(err.statusCode).send(errorBody(err.code, err.message, err.path, err.details));
    }
    const status = err.statusCode ?? 500;
    if (status === 413 || err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply
        .code(413)
        .send(errorBody("payload_too_large", `the body is larger than ${MAX_RAW_BODY} bytes`));
    }
    if (status >= 400 && status < 500) {
      const code = (err.code ?? "bad_request").replace(/^FST_ERR_/, "").toLowerCase();
      return reply.code(status).send(errorBody(code, err.message));
    }
    req.log.error({ err }, "request failed");
    return reply.code(500).send(errorBody("internal", "internal error; the request was not applied"));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody("not_found", `no route ${req.method} ${req.url.split("?")[0]}`));
  });

  app.get("/health", async () => ({ status: "ok" }));

  const api = new ApiRegistry(app, keys);
  const ingest = new IngestQueue(deps.db, {
    ...deps.ingest,
    clock: deps.clock,
    logger: deps.logger || undefined,
    onApplied: deps.onIngested,
  });
  ingest.start();
  app.addHook("onClose", () => ingest.stop());
  app.decorate("ingest", ingest);
  registerTracking(api, ingest, deps.clock);
  registerCustomers(api, deps.db, deps.clock);
  registerKeys(api, deps.db, deps.clock, keys);
  registerStrategy(api, deps.db, deps.clock);
  registerTemplates(api, deps.db, deps.clock);
  registerChannelCallbacks(api, deps.db, deps.clock);
  registerTelegramUpdates(api, deps.db, deps.clock);
  registerScenarios(api, deps.db);
  registerMeasure(api, deps.db, deps.clock);
  registerReports(api, deps.db, deps.clock);
  registerApprovals(api, deps.db, deps.clock, { onWork: deps.onIngested });
  registerScenarioTrigger(api, deps.db, deps.clock, { onWork: deps.onIngested });
  registerMetrics(app, deps.db, { clock: deps.clock });
  registerSnippet(app);
  registerLinks(app, deps.db, deps.clock);
  registerNpsLinks(app, deps.db, deps.clock);

  const doc = openApiDocument(api.specs, VERSION);
  app.get("/openapi.json", async () => doc);
  return app;
}
