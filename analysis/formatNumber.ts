/**
 * Number formatting for notes, suggestions and reports, without ICU.
 *
 * `n.toLocaleString('en-US')` builds an ICU number formatter on its first call, which costs
 * about 10 ms in a fresh Node process — as much as the rest of a small trace's analysis.
 * `groupDigits` gives the same text for the integers these messages show.
 */

/**
 * `n` with its thousands grouped by commas, exactly as `n.toLocaleString('en-US')` writes
 * it (`1234567` → `1,234,567`, `-1234` → `-1,234`). Integers below 1e21 in magnitude are
 * grouped here; anything else (fractions, −0, exponents, NaN, ±Infinity) goes to ICU.
 */
export function groupDigits(n: number): string {
  if (!Number.isInteger(n) || Object.is(n, -0) || Math.abs(n) >= 1e21) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) {
    const part = digits.slice(Math.max(0, end - 3), end);
    out = out === '' ? part : `${part},${out}`;
  }
  return n < 0 ? `-${out}` : out;
}
