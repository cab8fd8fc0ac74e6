// The STOP family of SMS replies (SPEC §6): a reply that is exactly one of these words, in any case, withdraws the
// customer's consent to the channel it came on. Only the whole message counts: "stop sending at night" is a reply,
// not an unsubscribe. Surrounding spaces and a final full stop or exclamation mark are allowed.
const STOP_WORDS = new Set(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "СТОП", "ОТПИСКА"]);

export function isStopWord(text: string): boolean {
  return STOP_WORDS.has(text.trim().replace(/[.!]$/u, "").toUpperCase());
}
