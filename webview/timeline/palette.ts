/**
 * The timeline's canvas palette (pure, no DOM): built from the VS Code theme's `--vscode-*`
 * variables (light, dark and high contrast) with WCAG AA contrast enforced.
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
  /** Text on a `focus` fill (the cursor time label). */
  focusText: string;
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
  /** Marks counter samples beyond a steady-state scale (warm-up). */
  counterClip: string;
  flow: string;
  /** Marked ranges (the `m` key). */
  mark: string;
  font: string;
}

export const SHADES = 3;

const CATEGORY_CHART: Record<string, string> = {
  kernel: 'blue',
  collective: 'orange',
  memcpy: 'purple',
  memset: 'purple',
  staging: 'purple',
  wait: 'red',
  step: 'green',
  cpu_op: 'yellow',
  runtime: 'yellow',
  host: 'green',
};
const FALLBACK_CHART: Record<string, string> = {
  blue: '#3794ff',
  orange: '#d18616',
  purple: '#b180d7',
  red: '#f14c4c',
  green: '#89d185',
  yellow: '#cca700',
};

const toCss = ([r, g, b]: number[]): string => `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
const mix = (a: number[], b: number[], t: number): number[] => [0, 1, 2].map((i) => a[i] * (1 - t) + b[i] * t);
const luminance = ([r, g, b]: number[]): number => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;

/** WCAG 2 relative luminance of an sRGB colour (0–255 channels). */
export function relativeLuminance(c: readonly number[]): number {
  const lin = (v: number): number => {
    const x = v / 255;
    return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

/** WCAG 2 contrast ratio of two colours (1 to 21). */
export function contrastRatio(a: readonly number[], b: readonly number[]): number {
  const la = relativeLuminance(a),
    lb = relativeLuminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** WCAG AA minimums: text, and lines and other graphical objects. */
export const AA_TEXT = 4.5;
export const AA_GRAPHIC = 3;

/**
 * `c`, moved towards white (on dark backgrounds) or black (on light ones) just far enough to
 * reach `min` contrast against every colour in `against`.
 */
export function ensureContrast(c: readonly number[], against: readonly (readonly number[])[], min: number): number[] {
  const dark = relativeLuminance(against[0]) < 0.18;
  const target = dark ? [255, 255, 255] : [0, 0, 0];
  for (let t = 0; t <= 1.0001; t += 0.02) {
    const m = mix([...c], target, t).map(Math.round);
    if (against.every((b) => contrastRatio(m, b) >= min)) return m;
  }
  return target;
}

/** Black or white, whichever contrasts more with `c` (at least 4.58:1 for any colour). */
function textOn(c: readonly number[]): string {
  return contrastRatio(c, [0, 0, 0]) >= contrastRatio(c, [255, 255, 255]) ? '#000000' : '#ffffff';
}

/**
 * The palette from theme variables (pure): `v(name, fallback)` reads a `--vscode-*` variable,
 * `parse` turns a CSS colour into [r, g, b, a]. Text colours reach WCAG AA 4.5:1 and boxes,
 * lines and markers 3:1 against the background (colours that do not are moved until they do).
 */
export function buildPalette(
  v: (name: string, fallback: string) => string,
  parse: (css: string) => number[],
  highContrast: boolean,
): Palette {
  const background = v('--vscode-editor-background', '#1e1e1e');
  const bg = parse(background);
  const dark = luminance(bg) < 0.5;
  const fg = parse(v('--vscode-editor-foreground', v('--vscode-foreground', '#cccccc')));
  const headerBg = parse(v('--vscode-sideBarSectionHeader-background', toCss(mix(fg, bg, 0.92))));
  const text = (c: number[]): string => toCss(ensureContrast(c, [bg, headerBg], AA_TEXT));
  const graphic = (c: number[]): string => toCss(ensureContrast(c, [bg], AA_GRAPHIC));
  const fills: string[] = [],
    fillText: string[] = [];
  for (const cat of SLICE_CATEGORIES) {
    const chart = CATEGORY_CHART[cat] ?? 'blue';
    const base = parse(v(`--vscode-charts-${chart}`, FALLBACK_CHART[chart]));
    for (let sh = 0; sh < SHADES; sh++) {
      // Shades move towards the background, then back out as far as 3:1 against it needs.
      const c = ensureContrast(mix(base, bg, highContrast ? 0 : sh * 0.18 + (dark ? 0.1 : 0)), [bg], AA_GRAPHIC);
      fills.push(toCss(c));
      fillText.push(textOn(c));
    }
  }
  const blue = parse(v('--vscode-charts-blue', FALLBACK_CHART.blue));
  const focus = parse(v('--vscode-focusBorder', '#007fd4'));
  return {
    background,
    foreground: text(fg),
    muted: text(parse(v('--vscode-descriptionForeground', toCss(mix(fg, bg, 0.35))))),
    border: v('--vscode-panel-border', toCss(mix(fg, bg, 0.8))),
    grid: toCss(mix(fg, bg, highContrast ? 0.5 : 0.88)),
    headerBg: toCss(headerBg),
    focus: graphic(focus),
    focusText: textOn(ensureContrast(focus, [bg], AA_GRAPHIC)),
    selection: v('--vscode-editor-selectionBackground', '#264f78'),
    match: graphic(parse(v('--vscode-editor-findMatchBorder', v('--vscode-charts-yellow', '#cca700')))),
    areaFill: toCss(mix(focus, bg, 0.75)),
    hoverBg: v('--vscode-list-hoverBackground', toCss(mix(fg, bg, 0.9))),
    highContrast,
    contrastBorder: v('--vscode-contrastBorder', toCss(fg)),
    fills,
    fillText,
    merged: toCss(mix(fg, bg, 0.55)),
    counterLine: graphic(blue),
    counterFill: toCss(mix(blue, bg, 0.6)),
    counterClip: graphic(parse(v('--vscode-charts-orange', FALLBACK_CHART.orange))),
    flow: graphic(parse(v('--vscode-charts-orange', FALLBACK_CHART.orange))),
    mark: graphic(parse(v('--vscode-charts-purple', FALLBACK_CHART.purple))),
    font: `${v('--vscode-font-size', '12px').replace(/^(\d+)$/, '$1px')} ${v('--vscode-font-family', 'system-ui, sans-serif')}`,
  };
}

/** Fill index of a slice: its category's colour, shaded by a hash of its name. */
export function fillIndex(category: number, nameId: number): number {
  const h = Math.imul(nameId + 1, 2654435761) >>> 0;
  return category * SHADES + (h % SHADES);
}
