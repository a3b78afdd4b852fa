/**
 * Times in answers as ISO-8601 text. Answers repeat the same bucket starts (days, hours) request
 * after request, so their text is kept: formatting a Date is a good part of an answer's cost.
 */
const kept = new Map<number, string>();
/** Most texts kept; the whole set is dropped when full (bucket starts of the moment come back at once). */
const MAX_KEPT = 50_000;

export function isoTime(ms: number): string {
  let text = kept.get(ms);
  if (text === undefined) {
    text = new Date(ms).toISOString();
    if (kept.size >= MAX_KEPT) kept.clear();
    kept.set(ms, text);
  }
  return text;
}
