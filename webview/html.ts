/**
 * The webview's HTML, as a pure function the extension calls when it creates (or
 * deserializes) the panel. Strict CSP: nothing loads except the bundled script (by nonce)
 * and stylesheet from the webview's own resource root; no inline styles or scripts, no
 * network. The trace never goes into this HTML: it arrives by message after `ready`.
 */

export interface WebviewHtmlOptions {
  /** `webview.asWebviewUri(dist/webview/main.js)` as a string. */
  scriptUri: string;
  /** `webview.asWebviewUri(dist/webview/main.css)` as a string. */
  styleUri: string;
  /** `webview.cspSource`. */
  cspSource: string;
  /** A fresh random nonce (base64 or hex, ≥ 128 bits) per render. */
  nonce: string;
  /** Panel title shown until the trace arrives. */
  title?: string;
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Returns the complete HTML document of the trace viewer. */
export function renderWebviewHtml(o: WebviewHtmlOptions): string {
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(o.nonce)) {
    throw new Error(
      'renderWebviewHtml: nonce must be at least 16 characters of base64/hex (a fresh random value per render)',
    );
  }
  const csp = [
    "default-src 'none'",
    `img-src ${o.cspSource} data:`,
    `style-src ${o.cspSource}`,
    `font-src ${o.cspSource}`,
    `script-src 'nonce-${o.nonce}'`,
  ].join('; ');
  const title = escapeAttr(o.title ?? 'CommLens trace');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(o.styleUri)}">
<title>${title}</title>
</head>
<body>
<div id="app" class="app" data-state="loading" aria-busy="true">
  <p class="placeholder" role="status">Waiting for the trace…</p>
</div>
<script nonce="${escapeAttr(o.nonce)}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>`;
}
