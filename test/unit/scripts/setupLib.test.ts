// scripts/setup-lib.sh: the apt mirror is found in one-line sources with an options
// block, and a non-root user without sudo is told to run as root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../../helpers/paths';

const lib = path.join(repoRoot, 'scripts', 'setup-lib.sh');
const bash = (script: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('/bin/bash', ['-c', `set -euo pipefail; . "${lib}"; ${script}`], { encoding: 'utf8', env });

test('the mirror of a one-line apt source is found with or without a [signed-by=…] block', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-apt-'));
  try {
    const list = path.join(dir, 'sources.list');
    fs.writeFileSync(
      list,
      [
        '# deb http://old.example/debian bookworm main',
        'deb-src http://src.example/debian bookworm main',
        'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] http://mirror.test/debian bookworm main contrib',
        'deb http://plain.test/debian bookworm main',
        '',
      ].join('\n'),
    );
    const r = bash(`mirror_from_lists bookworm "${list}" "${dir}/missing.list"`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'http://mirror.test/debian\n');
    fs.writeFileSync(
      list,
      'deb [signed-by=/k.gpg] http://other.test/debian trixie main\ndeb http://plain.test/debian bookworm main\n',
    );
    assert.equal(bash(`mirror_from_lists bookworm "${list}"`).stdout, 'http://plain.test/debian\n');
    assert.equal(
      bash(`mirror_from_lists bookworm "${dir}/none.list"`).stdout,
      '',
      'nothing found: empty, not an error',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without root: sudo when it exists, otherwise a message to run as root and a failure', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-sudo-'));
  try {
    assert.equal(bash('root_prefix 0').stdout, '\n');
    // A PATH with no sudo on it (bash builtins only, and the tools the check uses).
    const noSudo = { ...process.env, PATH: dir };
    assert.equal(bash('root_prefix 1000', noSudo).stdout, 'need_root\n');
    const r = bash('p=$(root_prefix 1000); $p apt-get update; echo "not reached"', noSudo);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /this step \(apt-get update\) needs root, and sudo is not installed: run scripts\/setup\.sh as root/,
    );
    fs.symlinkSync('/bin/true', path.join(dir, 'sudo'));
    assert.equal(bash('root_prefix 1000', noSudo).stdout, 'sudo\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
