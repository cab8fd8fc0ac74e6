// Prepares a rendered HTML email for tracking: http(s) links in anchors become signed click redirects, a 1×1
// open pixel goes just before </body>, and the preheader (the preview line mail clients show) just after <body>.
// Plain string work on the finished HTML: the template engine has already produced it.
import type { MessageLinks } from "../channel.ts";

const ANCHOR = /<(a|area)\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')/i;

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" };

function decodeAttribute(v: string): string {
  return v.replace(/&(amp|lt|gt|quot|apos|#39);/g, (_, name: string) => ENTITIES[name] ?? "");
}

export function escapeHtml(v: string): string {
  return v
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/**
 * Rewrites every anchor's absolute http(s) href to a signed click redirect. Links into Tact itself (the
 * unsubscribe page, other redirects) are left alone, and so are mailto:, tel: and relative links.
 */
export function rewriteLinks(html: string, links: MessageLinks): string {
  return html.replace(ANCHOR, (tag) =>
    tag.replace(HREF, (whole, prefix: string, dq: string | undefined, sq: string | undefined) => {
      const raw = (dq ?? sq ?? "").trim();
      const target = decodeAttribute(raw);
      if (!/^https?:\/\//i.test(target) || target.startsWith(`${links.baseUrl}/`)) return whole;
      const redirect = links.click(target);
      return redirect === target ? whole : `${prefix}"${escapeHtml(redirect)}"`;
    }),
  );
}

/** Puts the open pixel just before the last </body> (or at the end when the HTML has none). */
export function insertOpenPixel(html: string, pixelUrl: string): string {
  const img =
    `<img src="${escapeHtml(pixelUrl)}" width="1" height="1" alt="" ` +
    `style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" />`;
  const at = html.toLowerCase().lastIndexOf("</body>");
  return at < 0 ? `${html}${img}` : `${html.slice(0, at)}${img}${html.slice(at)}`;
}

/** Puts a hidden preheader just after <body …> (or at the start when the HTML has no body tag). */
export function insertPreheader(html: string, preheader: string): string {
  const div =
    `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;font-size:1px;line-height:1px;` +
    `color:transparent">${escapeHtml(preheader)}</div>`;
  const m = /<body\b[^>]*>/i.exec(html);
  if (!m) return `${div}${html}`;
  const end = m.index + m[0].length;
  return `${html.slice(0, end)}${div}${html.slice(end)}`;
}

/** The HTML part as sent: preheader, rewritten links, then the pixel (which must not become a click link). */
export function trackedHtml(
  html: string,
  preheader: string | undefined,
  links: MessageLinks | undefined,
): string {
  let out = preheader ? insertPreheader(html, preheader) : html;
  if (links) out = insertOpenPixel(rewriteLinks(out, links), links.openPixel);
  return out;
}
