/**
 * The warnings banner above the timeline: identical warnings (one per rank, say) shown once
 * with a count, and the banner one line high until clicked when it holds more than one
 * warning or a warning too long for the line, so it does not take the timeline's room
 * (warningsBanner.ts draws it). Free of the DOM, so it is tested in Node.
 */
import { clipText } from '../../trace/format';

export interface WarningGroup {
  text: string;
  /** How many times it was given. */
  count: number;
}

/** The distinct warnings in the order first given, each with how many times it was given. */
export function groupWarnings(list: readonly string[]): WarningGroup[] {
  const byText = new Map<string, WarningGroup>();
  for (const raw of list) {
    const text = raw.trim();
    if (!text) continue;
    const g = byText.get(text);
    if (g) g.count++;
    else byText.set(text, { text, count: 1 });
  }
  return [...byText.values()];
}

/** One warning as the banner writes it: its text (clipped) and, when repeated, `(×N)`. */
export function warningText(g: WarningGroup): string {
  return `${clipText(g.text, 300)}${g.count > 1 ? ` (×${g.count})` : ''}`;
}
