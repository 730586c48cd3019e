import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SLICE_CATEGORIES } from '../../../trace/binary';
import {
  AA_GRAPHIC,
  AA_TEXT,
  buildPalette,
  contrastRatio,
  ensureContrast,
  SHADES,
} from '../../../webview/timeline/palette';

const root = path.join(__dirname, '..', '..', '..', '..');

/** The `--vscode-*` variables of one theme block (`body.vscode-<kind> { ... }`) in the harness' theme.css. */
function themeVars(kind: string): Map<string, string> {
  const css = readFileSync(path.join(root, 'webview', 'harness', 'theme.css'), 'utf8');
  const block = new RegExp(`body\\.vscode-${kind}\\s*\\{([^}]*)\\}`).exec(css);
  if (!block) throw new Error(`theme.css has no body.vscode-${kind} block`);
  const vars = new Map<string, string>();
  for (const m of block[1].matchAll(/(--vscode-[\w-]+)\s*:\s*([^;]+);/g)) vars.set(m[1], m[2].trim());
  return vars;
}

/** #rgb, #rrggbb and rgb(r,g,b) → [r, g, b, 1]; anything else fails the test (the palette must stay parseable). */
function parse(css: string): number[] {
  let m = /^#([0-9a-f]{6})$/i.exec(css);
  if (m) return [0, 2, 4].map((i) => parseInt(m![1].slice(i, i + 2), 16)).concat(1);
  m = /^#([0-9a-f]{3})$/i.exec(css);
  if (m) return [0, 1, 2].map((i) => parseInt(m![1][i] + m![1][i], 16)).concat(1);
  const r = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(css);
  if (r) return [Number(r[1]), Number(r[2]), Number(r[3]), 1];
  throw new Error(`unparseable colour in the palette: ${css}`);
}

function paletteFor(kind: string): ReturnType<typeof buildPalette> {
  const vars = themeVars(kind);
  return buildPalette((name, fallback) => vars.get(name) ?? fallback, parse, kind.startsWith('high-contrast'));
}

describe('timeline palette contrast (WCAG AA)', () => {
  it('computes WCAG contrast ratios', () => {
    assert.equal(Number(contrastRatio([0, 0, 0], [255, 255, 255]).toFixed(2)), 21);
    assert.equal(contrastRatio([119, 119, 119], [119, 119, 119]), 1);
    // #767676 on white is the classic just-passing AA grey (4.54:1).
    assert.equal(Number(contrastRatio([0x76, 0x76, 0x76], [255, 255, 255]).toFixed(2)), 4.54);
    const moved = ensureContrast([0xd1, 0x86, 0x16], [[255, 255, 255]], AA_GRAPHIC);
    assert.ok(contrastRatio(moved, [255, 255, 255]) >= AA_GRAPHIC);
    assert.ok(
      contrastRatio([0xd1, 0x86, 0x16], [255, 255, 255]) < AA_GRAPHIC,
      'VS Code light orange alone is below 3:1 on white',
    );
  });

  for (const kind of ['light', 'dark', 'high-contrast']) {
    it(`${kind}: text reaches 4.5:1 and boxes, lines and markers 3:1`, () => {
      const p = paletteFor(kind);
      const bg = parse(p.background),
        header = parse(p.headerBg);
      const fails: string[] = [];
      const need = (what: string, fg: string, against: number[], min: number): void => {
        const r = contrastRatio(parse(fg), against);
        if (r < min) fails.push(`${what} ${fg} on ${against.slice(0, 3).join(',')}: ${r.toFixed(2)} < ${min}`);
      };
      for (const [name, bgc] of [
        ['background', bg],
        ['header', header],
      ] as const) {
        need(`foreground on ${name}`, p.foreground, bgc, AA_TEXT);
        need(`muted text on ${name}`, p.muted, bgc, AA_TEXT);
      }
      assert.equal(p.fills.length, SLICE_CATEGORIES.length * SHADES);
      p.fills.forEach((f, i) => {
        need(`box fill ${SLICE_CATEGORIES[Math.floor(i / SHADES)]}/${i % SHADES}`, f, bg, AA_GRAPHIC);
        need(`label on box ${i}`, p.fillText[i], parse(f), AA_TEXT);
      });
      for (const k of ['focus', 'match', 'counterLine', 'counterClip', 'flow', 'mark'] as const)
        need(k, p[k], bg, AA_GRAPHIC);
      need('cursor label', p.focusText, parse(p.focus), AA_TEXT);
      assert.deepEqual(fails, []);
    });
  }
});
