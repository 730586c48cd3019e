import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (tests run from out/test/...). */
export const repoRoot = resolve(__dirname, '..', '..', '..');
/** The built CLI. */
export const cliPath = resolve(repoRoot, 'dist', 'cli', 'commlens.js');
/** The shared folder beside the checkout (CI lays it there too). */
export const sharedDir = resolve(repoRoot, '..', 'shared');

/**
 * A path under the shared fixtures (../shared/fixtures beside the checkout): the one way
 * tests find them. Fails with a clear message when the fixtures are not there, so a test
 * never passes (or skips) on a checkout without them.
 */
export function fixturesDir(...parts: string[]): string {
  const root = join(sharedDir, 'fixtures');
  if (!existsSync(root)) {
    throw new Error(
      `the shared fixtures are missing: expected ${root} (the shared/ folder beside the checkout, as CI lays it out)`,
    );
  }
  const p = join(root, ...parts);
  if (!existsSync(p)) throw new Error(`fixture missing: ${p}`);
  return p;
}
