// The web tracking snippet served at /t.js: a small hand-written ES5 script that keeps a first-party anonymous id,
// records a page view on load and sends identify/track/page calls to the tracking API of the server it came from.
//
// Embedding:  <script src="https://tact.example/t.js" data-write-key="KEY" async></script>
// Options:    data-host="https://…" (post elsewhere), data-auto-page="false" (no page call on load).
// Calls made before the script loads are queued: window.tact = window.tact || []; tact.push(["identify", "u1", {}]).
// Requests are CORS-simple (POST, Content-Type text/plain, write key in the body), so browsers send no preflight.
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";

import { VERSION as SNIPPET_VERSION } from "../version.ts";

// ES5 only (no let/const, arrows, template literals): it runs on whatever browser a site's visitors have.
// Served compacted (see compact): every statement ends with a semicolon; regex literals hold no spaces or quotes.
const SOURCE = `
(function (w, d, n) {
  "use strict";
  if (w.tact && w.tact.VERSION) return;
  var VERSION = "${SNIPPET_VERSION}", AID = "tact_aid", UID = "tact_uid", YEAR = 31536000;
  var queue = w.tact && w.tact.push ? w.tact : [];
  var s = d.currentScript;
  if (!s) {
    var all = d.querySelectorAll('script[src*="/t.js"]');
    s = all[all.length - 1];
  }
  var attr = function (name) { return s ? s.getAttribute("data-" + name) : null; };
  var key = attr("write-key");
  var src = s && /^[a-z][a-z0-9+.-]*:\\/\\/[^\\/?#]+/i.exec(s.src);
  var host = (attr("host") || (src ? src[0] : "")).replace(/\\/+$/, "");
  var aid = null, uid = null;

  function cookie(name, value, maxAge) {
    if (value === undefined) {
      var m = new RegExp("(?:^|; )" + name + "=([^;]*)").exec(d.cookie);
      try { return m ? decodeURIComponent(m[1]) : null; } catch (e) { return null; }
    }
    d.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + maxAge + "; Path=/; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }

  function uuid() {
    var c = w.crypto, b, i, h = "";
    if (c.randomUUID) return c.randomUUID();
    b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h += (i === 4 || i === 6 || i === 8 || i === 10 ? "-" : "") + (b[i] + 256).toString(16).slice(1);
    return h;
  }

  function anonymousId() {
    aid = aid || cookie(AID) || uuid();
    cookie(AID, aid, YEAR);
    return aid;
  }

  function extend(to, from) {
    for (var k in from) if ({}.hasOwnProperty.call(from, k)) to[k] = from[k];
    return to;
  }

  function pageInfo() {
    return { url: location.href, path: location.pathname, referrer: d.referrer, title: d.title, search: location.search };
  }

  function post(type, msg, retry) {
    var url = host + "/v1/" + type, body;
    var again = function () { if (retry) setTimeout(function () { post(type, msg, false); }, 1000); };
    msg.sentAt = new Date().toISOString();
    try { body = JSON.stringify(msg); } catch (e) { return; }
    if (w.fetch) {
      try {
        w.fetch(url, { method: "POST", body: body, headers: { "Content-Type": "text/plain" }, keepalive: true, credentials: "omit" })
          .then(function (r) { if (r.status >= 500) again(); }, again);
        return;
      } catch (e) {}
    }
    if (!(n.sendBeacon && n.sendBeacon(url, body))) again();
  }

  function send(type, fields) {
    if (!key || !host) return;
    var ctx = { library: { name: "tact.js", version: VERSION }, page: pageInfo(), userAgent: n.userAgent, locale: n.language };
    try { ctx.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
    var msg = { type: type, writeKey: key, anonymousId: anonymousId(), messageId: uuid(), timestamp: new Date().toISOString(), context: ctx };
    uid = uid || cookie(UID);
    if (uid) msg.userId = uid;
    post(type, extend(msg, fields), true);
  }

  var api = {
    VERSION: VERSION,
    identify: function (userId, traits) {
      if (userId && typeof userId === "object") { traits = userId; userId = null; }
      if (userId || userId === 0) {
        uid = String(userId);
        cookie(UID, uid, YEAR);
      }
      send("identify", { traits: traits || {} });
    },
    track: function (event, props) {
      send("track", { event: String(event), properties: props || {} });
    },
    page: function (name, props) {
      if (name && typeof name === "object") { props = name; name = null; }
      send("page", { name: name || d.title, properties: extend(pageInfo(), props || {}) });
    },
    reset: function () {
      aid = uid = null;
      cookie(AID, "", 0);
      cookie(UID, "", 0);
    },
    push: function (args) {
      if (args && typeof api[args[0]] === "function" && args[0] !== "push") api[args[0]].apply(api, [].slice.call(args, 1));
    }
  };
  w.tact = api;
  for (var i = 0; i < queue.length; i++) api.push(queue[i]);
  if (attr("auto-page") !== "false") api.page();
})(window, document, navigator);
`;

/**
 * The served script, compacted: full-line comments dropped, and whitespace outside string literals removed unless it
 * separates two words (or two `+`/`-`). Safe for SOURCE because every statement ends with a semicolon and its regular
 * expression literals hold no whitespace or quotes.
 */
export function compact(source: string): string {
  const code = source
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n");
  const word = /[\w$]/;
  let out = "";
  let quote = "";
  let gap = false;
  for (let i = 0; i < code.length; i++) {
    const c = code.charAt(i);
    if (quote) {
      out += c;
      if (c === "\\") out += code.charAt(++i);
      else if (c === quote) quote = "";
      continue;
    }
    if (/\s/.test(c)) {
      gap = true;
      continue;
    }
    const last = out.charAt(out.length - 1);
    if (gap && ((word.test(last) && word.test(c)) || (c === last && (c === "+" || c === "-")))) out += " ";
    gap = false;
    if (c === '"' || c === "'") quote = c;
    out += c;
  }
  return out;
}

export const SNIPPET: string = compact(SOURCE);

const SNIPPET_GZIP = gzipSync(SNIPPET, { level: 9 });
const ETAG = `"${createHash("sha256").update(SNIPPET).digest("base64url").slice(0, 22)}"`;
const GZIP_ETAG = `${ETAG.slice(0, -1)}-gz"`;

export function registerSnippet(app: FastifyInstance): void {
  app.get("/t.js", async (req, reply) => {
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const etag = gzip ? GZIP_ETAG : ETAG;
    const vary = reply.getHeader("vary");
    reply
      .type("application/javascript; charset=utf-8")
      .header("Cache-Control", "public, max-age=300")
      .header("ETag", etag)
      .header("Vary", vary ? `${String(vary)}, Accept-Encoding` : "Accept-Encoding")
      // Pages that require CORP of their subresources (COEP: require-corp) may still load it.
      .header("Cross-Origin-Resource-Policy", "cross-origin")
      .header("X-Content-Type-Options", "nosniff");
    const match = req.headers["if-none-match"];
    if (match?.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)) {
      return reply.code(304).send();
    }
    if (!gzip) return SNIPPET;
    return reply.header("Content-Encoding", "gzip").send(SNIPPET_GZIP);
  });
}
