import { resolve } from 'node:path';

/** The repository root (tests run from out/test/...). */
export const repoRoot = resolve(__dirname, '..', '..', '..');
/** The built CLI. */
export const cliPath = resolve(repoRoot, 'dist', 'cli', 'commlens.js');
/** Fixtures shared beside the checkout (../shared/fixtures). */
export const fixturesDir = resolve(repoRoot, '..', 'shared', 'fixtures');
