// Reads request bodies: gzip or deflate (announced or recognised by their magic bytes, whatever the Content-Type
// says), bounded before and after decompression, parsed as JSON (or, for a route that asks, left as bytes).
import { gunzipSync, inflateSync } from "node:zlib";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HttpError } from "./errors.ts";

export const MAX_RAW_BODY = 1024 * 1024;

export interface ParsedBody {
  value: unknown;
  text: string;
}

declare module "fastify" {
  interface FastifyRequest {
    /** the decompressed body as text (the tracking API logs it as it came) */
    bodyText?: string;
  }
  interface FastifyContextConfig {
    /** largest decompressed body this route accepts */
    maxBodyBytes?: number;
    /** the body as bytes, not JSON (a provider's callback: a bounce message, a form) */
    rawBody?: boolean;
  }
}

export function decodeBody(raw: Buffer, encoding: string | undefined, maxBytes: number): ParsedBody {
  const buf = decompress(raw, encoding, maxBytes);
  if (buf.length === 0) return { value: undefined, text: "" };
  const text = buf.toString("utf8");
  try {
    return { value: JSON.parse(text), text };
  } catch (err) {
    throw new HttpError(400, "invalid_json", `the body is not valid JSON: ${(err as Error).message}`);
  }
}

function decompress(raw: Buffer, encoding: string | undefined, maxBytes: number): Buffer {
  let buf = raw;
  const enc = (encoding ?? "").toLowerCase().trim();
  try {
    if (enc === "gzip" || (raw[0] === 0x1f && raw[1] === 0x8b)) {
      buf = gunzipSync(raw, { maxOutputLength: maxBytes + 1 });
    } else if (enc === "deflate") {
      buf = inflateSync(raw, { maxOutputLength: maxBytes + 1 });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new HttpError(413, "payload_too_large", `the decompressed body is larger than ${maxBytes} bytes`);
    }
    throw new HttpError(400, "bad_encoding", "the body could not be decompressed");
  }
  if (buf.length > maxBytes) {
    throw new HttpError(413, "payload_too_large", `the body is larger than ${maxBytes} bytes`);
  }
  return buf;
}

export function registerBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_RAW_BODY }, (req, body, done) => {
    try {
      const config = (req as FastifyRequest).routeOptions.config;
      const max = config.maxBodyBytes ?? 512 * 1024;
      if (config.rawBody) {
        done(null, decompress(body as Buffer, req.headers["content-encoding"], max));
        return;
      }
      const parsed = decodeBody(body as Buffer, req.headers["content-encoding"], max);
      (req as FastifyRequest).bodyText = parsed.text;
      done(null, parsed.value);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
