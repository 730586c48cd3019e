/**
 * Canvas colours taken from the VS Code theme's `--vscode-*` variables (light, dark and
 * high contrast), re-read whenever the theme changes.
 */
import { SLICE_CATEGORIES } from '../../trace/binary';

export interface Palette {
  background: string;
  foreground: string;
  muted: string;
  border: string;
  grid: string;
  headerBg: string;
  focus: string;
  selection: string;
  match: string;
  areaFill: string;
  hoverBg: string;
  /** True in high-contrast themes: boxes get outlines. */
  highContrast: boolean;
  contrastBorder: string;
  /** Box fills: SHADES per category, index = category · SHADES + shade. */
  fills: string[];
  /** Text colour readable on each fill. */
  fillText: string[];
  merged: string;
  counterLine: string;
  counterFill: string;
  flow: string;
  font: string;
}

export const SHADES = 3;

const CATEGORY_CHART: Record<string, string> = {
  kernel: 'blue', collective: 'orange', memcpy: 'purple', memset: 'purple', staging: 'purple',
  wait: 'red', step: 'green', cpu_op: 'yellow', runtime: 'yellow', host: 'green',
};
const FALLBACK_CHART: Record<string, string> = {
  blue: '#3794ff', orange: '#d18616', purple: '#b180d7', red: '#f14c4c', green: '#89d185', yellow: '#cca700',
};

let probe: CanvasRenderingContext2D | null = null;
/** Any CSS colour → [r, g, b, a] (0–255, a 0–1), using the canvas' own parser. */
export function parseColor(css: string): [number, number, number, number] {
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return [128, 128, 128, 1];
  probe.fillStyle = '#000';
  probe.fillStyle = css;
  const v = String(probe.fillStyle);
  if (v.startsWith('#')) return [parseInt(v.slice(1, 3), 16), parseInt(v.slice(3, 5), 16), parseInt(v.slice(5, 7), 16), 1];
  const m = v.match(/[\d.]+/g)?.map(Number) ?? [128, 128, 128, 1];
  return [m[0], m[1], m[2], m[3] ?? 1];
}

const toCss = ([r, g, b]: number[]): string => `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
const mix = (a: number[], b: number[], t: number): number[] => [0, 1, 2].map((i) => a[i] * (1 - t) + b[i] * t);
const luminance = ([r, g, b]: number[]): number => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;

export function readPalette(): Palette {
  const cs = getComputedStyle(document.documentElement);
  const bodyCs = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => (cs.getPropertyValue(name) || bodyCs.getPropertyValue(name)).trim() || fallback;
  const highContrast = document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light');
  const background = v('--vscode-editor-background', '#1e1e1e');
  const foreground = v('--vscode-editor-foreground', v('--vscode-foreground', '#cccccc'));
  const bg = parseColor(background);
  const dark = luminance(bg) < 0.5;
  const fills: string[] = [], fillText: string[] = [];
  for (const cat of SLICE_CATEGORIES) {
    const chart = CATEGORY_CHART[cat] ?? 'blue';
    const base = parseColor(v(`--vscode-charts-${chart}`, FALLBACK_CHART[chart]));
    for (let s = 0; s < SHADES; s++) {
      // Shades move towards the background so boxes stay on the theme's side of contrast.
      const c = mix(base, bg, highContrast ? 0 : s * 0.18 + (dark ? 0.1 : 0));
      fills.push(toCss(c));
      fillText.push(luminance(c) > 0.55 ? '#111111' : '#ffffff');
    }
  }
  const fg = parseColor(foreground);
  return {
    background, foreground,
    muted: v('--vscode-descriptionForeground', toCss(mix(fg, bg, 0.35))),
    border: v('--vscode-panel-border', toCss(mix(fg, bg, 0.8))),
    grid: toCss(mix(fg, bg, highContrast ? 0.5 : 0.88)),
    headerBg: v('--vscode-sideBarSectionHeader-background', toCss(mix(fg, bg, 0.92))),
    focus: v('--vscode-focusBorder', '#007fd4'),
    selection: v('--vscode-editor-selectionBackground', '#264f78'),
    match: v('--vscode-editor-findMatchBorder', v('--vscode-charts-yellow', '#cca700')),
    areaFill: toCss(mix(parseColor(v('--vscode-focusBorder', '#007fd4')), bg, 0.75)),
    hoverBg: v('--vscode-list-hoverBackground', toCss(mix(fg, bg, 0.9))),
    highContrast,
    contrastBorder: v('--vscode-contrastBorder', foreground),
    fills, fillText,
    merged: toCss(mix(fg, bg, 0.55)),
    counterLine: v('--vscode-charts-blue', FALLBACK_CHART.blue),
    counterFill: toCss(mix(parseColor(v('--vscode-charts-blue', FALLBACK_CHART.blue)), bg, 0.6)),
    flow: v('--vscode-charts-orange', FALLBACK_CHART.orange),
    font: `${v('--vscode-font-size', '12px').replace(/^(\d+)$/, '$1px')} ${v('--vscode-font-family', 'system-ui, sans-serif')}`,
  };
}

/** Fill index of a slice: its category's colour, shaded by a hash of its name. */
export function fillIndex(category: number, nameId: number): number {
  const h = Math.imul(nameId + 1, 2654435761) >>> 0;
  return category * SHADES + (h % SHADES);
}
