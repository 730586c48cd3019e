/**
 * Text from files (process, thread and slice names, error messages quoting them, titles
 * from a summary) is shown on a terminal: escape sequences in it would be executed there
 * (colours, cursor moves, an OSC 52 clipboard write, a hyperlink that lies). Every place
 * the CLI prints file-derived text passes it through `safeText` (human output) or
 * `safeJson` (JSON output).
 */

/**
 * C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text
 * (bidi overrides and isolates, zero-width characters, the byte order mark, line and
 * paragraph separators).
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const UNSAFE_NO_NEWLINE =
  // eslint-disable-next-line no-control-regex -- as above
  /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  return n < 0x100
    ? `\\x${n.toString(16).toUpperCase().padStart(2, '0')}`
    : `\\u${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * `s` with every control and invisible format character written out as `\xNN` or
 * `\uNNNN` (tabs kept). `keepNewlines` keeps line breaks, for multi-line output built by
 * CommLens itself; a single name should be escaped without it.
 */
export function safeText(s: string, opts: { keepNewlines?: boolean } = {}): string {
  return String(s).replace(opts.keepNewlines ? UNSAFE : UNSAFE_NO_NEWLINE, escapeChar);
}

/**
 * JSON text made safe for a terminal: JSON.stringify already escapes C0 controls, but
 * not DEL, C1 controls (U+009B starts an escape sequence on some terminals) or bidi
 * characters; this escapes them as `\uNNNN`, which leaves the JSON meaning unchanged.
 */
export function safeJson(json: string): string {
  return json.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
