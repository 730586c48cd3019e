/**
 * Canvas colours taken from the VS Code theme's `--vscode-*` variables (light, dark and
 * high contrast), re-read whenever the theme changes. The palette itself is pure (palette.ts).
 */
import { buildPalette, type Palette } from './palette';

export { fillIndex, SHADES, type Palette } from './palette';

let probe: CanvasRenderingContext2D | null = null;
/** Any CSS colour → [r, g, b, a] (0–255, a 0–1), using the canvas' own parser. */
export function parseColor(css: string): [number, number, number, number] {
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return [128, 128, 128, 1];
  probe.fillStyle = '#000';
  probe.fillStyle = css;
  const v = String(probe.fillStyle);
  if (v.startsWith('#'))
    return [parseInt(v.slice(1, 3), 16), parseInt(v.slice(3, 5), 16), parseInt(v.slice(5, 7), 16), 1];
  const m = v.match(/[\d.]+/g)?.map(Number) ?? [128, 128, 128, 1];
  return [m[0], m[1], m[2], m[3] ?? 1];
}

export function readPalette(): Palette {
  const cs = getComputedStyle(document.documentElement);
  const bodyCs = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string =>
    (cs.getPropertyValue(name) || bodyCs.getPropertyValue(name)).trim() || fallback;
  const highContrast =
    document.body.classList.contains('vscode-high-contrast') ||
    document.body.classList.contains('vscode-high-contrast-light');
  return buildPalette(v, parseColor, highContrast);
}
