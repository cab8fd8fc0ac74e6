// The built-in NPS survey: what a `survey: nps` step sends when it names no template of its own. Email shows the
// eleven answer links 0–10 (each a signed link to a thank-you page); text channels ask for a reply with the number
// (read by core/nps parseNpsReply); Telegram gets a button per score. A template of the strategy's own can lay the
// question out differently: it reads the links as `message.nps_urls` (eleven URLs, index = score).
import type { Template } from "../../strategy/types.ts";

const QUESTION = "How likely are you to recommend {{ strategy.name }} to a friend or colleague?";
const REPLY_HINT = "Reply with a number from 0 (not at all likely) to 10 (extremely likely).";

const CELL =
  "display:inline-block;min-width:28px;padding:8px 4px;margin:2px;border:1px solid #ccc;border-radius:4px;" +
  "text-align:center;text-decoration:none;color:#222;font:16px/1 sans-serif";

const HTML = `<!doctype html><html><body style="font:16px/1.5 sans-serif;color:#222">
<p>${QUESTION}</p>
<p>{% for url in message.nps_urls %}<a href="{{ url }}" style="${CELL}">{{ forloop.index0 }}</a>{% endfor %}</p>
<p style="color:#666;font-size:13px">0 = not at all likely, 10 = extremely likely</p>
<p style="color:#666;font-size:12px"><a href="{{ unsubscribe_url }}" style="color:#666">Unsubscribe</a></p>
</body></html>`;

const TEXT = `${QUESTION}
{% for url in message.nps_urls %}{{ forloop.index0 }}: {{ url }}
{% endfor %}
Unsubscribe: {{ unsubscribe_url }}`;

const made = new Map<string, Template>();

/** The template a survey step sends when the strategy has none of the name it uses (one object per name, so its
 * compiled bodies are cached like any template's). */
export function builtInSurvey(name: string): Template {
  const known = made.get(name);
  if (known) return known;
  const t: Template = {
    name,
    bodies: {
      email: {
        kind: "email",
        subject: QUESTION,
        html: HTML,
        text: TEXT,
        preheader: "One question, one click",
      },
      sms: { kind: "sms", text: `${QUESTION} ${REPLY_HINT}` },
      telegram: {
        kind: "telegram",
        text: `${QUESTION} Tap a number or ${REPLY_HINT.charAt(0).toLowerCase()}${REPLY_HINT.slice(1)}`,
        buttons: Array.from({ length: 11 }, (_, i) => ({
          text: String(i),
          url: `{{ message.nps_urls[${i}] }}`,
        })),
      },
    },
  };
  made.set(name, t);
  return t;
}
