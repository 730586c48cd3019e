// verify's line on the load beside its runs (analysis/otherPrograms.ts otherProgramsVerifyLine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTHER_PROGRAMS_NOTE_CORES, otherProgramsVerifyLine } from '../../../analysis/otherPrograms';

test("verify's load line: each side's median over its runs, from the note's threshold on either side", () => {
  const line = otherProgramsVerifyLine([1.2, 1.4, 0.1], [0.5, undefined]);
  assert.ok(
    line?.startsWith('load: other programs used 1.20 cores beside the baseline and 0.50 cores beside the re-run'),
    line,
  );
  // One side loaded is enough; a side without the counter says so.
  assert.match(otherProgramsVerifyLine([undefined], [0.9]) ?? '', /not recorded beside the baseline and 0\.90 cores/);
  // Quiet on both sides, or nothing recorded: no line.
  const below = OTHER_PROGRAMS_NOTE_CORES * 0.9;
  assert.equal(otherProgramsVerifyLine([below, 0], [below]), undefined);
  assert.equal(otherProgramsVerifyLine([], [undefined]), undefined);
});
