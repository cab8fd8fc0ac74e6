// How many SMS segments a text takes: GSM 03.38 (7-bit, 160 per message, 153 per part of a long one) when
// every character is in its alphabet, UCS-2 (70, 67 per part) otherwise. Operators bill per segment, so the
// count is shown in previews and recorded beside the cost.

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿" +
  "abcdefghijklmnopqrstuvwxyzäöñüà";
/** Characters of the extension table: each is sent as an escape plus the character, two septets. */
const GSM_EXTENSION = "^{}\\[~]|€\f";

const basic = new Set(GSM_BASIC);
const extension = new Set(GSM_EXTENSION);

export interface SmsSegments {
  encoding: "gsm7" | "ucs2";
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes. */
  units: number;
  segments: number;
}

/** The units of each character: segments are filled without splitting an escape pair or a surrogate pair. */
function unitsOf(text: string): { encoding: "gsm7" | "ucs2"; sizes: number[] } {
  const chars = [...text];
  if (chars.every((c) => basic.has(c) || extension.has(c))) {
    return { encoding: "gsm7", sizes: chars.map((c) => (extension.has(c) ? 2 : 1)) };
  }
  return { encoding: "ucs2", sizes: chars.map((c) => c.length) };
}

export function smsSegments(text: string): SmsSegments {
  const { encoding, sizes } = unitsOf(text);
  const units = sizes.reduce((a, b) => a + b, 0);
  const [single, part] = encoding === "gsm7" ? [160, 153] : [70, 67];
  if (units === 0) return { encoding, units, segments: 0 };
  if (units <= single) return { encoding, units, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > part) {
      segments++;
      used = 0;
    }
    used += size;
  }
  return { encoding, units, segments };
}
