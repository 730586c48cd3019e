/**
 * Tests that need something this machine may lack (a WebGPU adapter, Chromium, Perfetto's
 * trace processor): they skip with a reason on a developer's machine, and fail in CI
 * (`CI` set) or when COMMLENS_REQUIRE_GPU=1, so that a green suite never means "trained
 * nothing".
 */

/** True when missing tools must fail the suite instead of skipping tests (CI, COMMLENS_REQUIRE_GPU=1 or COMMLENS_REQUIRE_TOOLS=1). */
export function toolsRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    (env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0') ||
    env.COMMLENS_REQUIRE_GPU === '1' ||
    env.COMMLENS_REQUIRE_TOOLS === '1'
  );
}

/**
 * `missing`: false when the tool is there, else why not. Returns the skip reason for a
 * developer's machine; throws when tools are required.
 */
export function skipUnlessPresent(missing: string | false, env: NodeJS.ProcessEnv = process.env): string | false {
  if (missing && toolsRequired(env))
    throw new Error(`${missing} — required here (CI or COMMLENS_REQUIRE_GPU=1 is set); run scripts/setup.sh`);
  return missing;
}
