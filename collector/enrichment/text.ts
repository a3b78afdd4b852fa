/**
 * Derived text made safe for the event schema: every visit field comes from client input (a
 * URL, a referrer, a user agent), so what this module writes must pass the schema's text checks
 * whatever the input was.
 */

/** `String.prototype.toWellFormed` is ES2024 and in Node 20 (tsconfig's lib stays ES2023, see page-view.ts). */
type WellFormable = string & { toWellFormed(): string };

/** Printable ASCII only: the common case, which needs nothing but a trim. */
const PLAIN_ASCII_RE = /^[\x20-\x7e]*$/;
/** C0 controls, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/g;
/** Unicode non-characters (U+FDD0–U+FDEF and the last two code points of every plane), which the schema refuses. */
const NONCHARACTER_RE = /\p{Noncharacter_Code_Point}/gu;

/**
 * `value` as a visit field: lone surrogates become U+FFFD, control characters become spaces,
 * non-characters are removed, and the result is trimmed. Empty, or longer than `maxLength`
 * (UTF-16 units, as the schema counts): undefined. A derived value that does not fit is
 * dropped, never cut: a cut host or campaign name would be a different, wrong value.
 */
export function cleanText(value: string, maxLength: number): string | undefined {
  let text = value;
  if (!PLAIN_ASCII_RE.test(text)) {
    text = (text as WellFormable).toWellFormed().replace(CONTROL_RE, ' ').replace(NONCHARACTER_RE, '');
  }
  text = text.trim();
  return text.length === 0 || text.length > maxLength ? undefined : text;
}
