// Runs the built test files with node's test runner: `node build/test/run.js [dir or file ...]`.
// Node 22 and later take `node --test build/test/` as one file, not a folder, so the
// files are listed here and handed over by name; this works on Node 20 as well.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = import.meta.dirname; // build/test
const sources = resolve(root, '../../test');
const targets = process.argv.slice(2);

/** tsc never deletes: a built test whose source was moved or removed is left over, not run. */
function hasSource(file: string): boolean {
  const rel = relative(root, file);
  return rel.startsWith('..') || existsSync(join(sources, rel.replace(/\.js$/, '.ts')));
}

function testFiles(target: string): string[] {
  const stat = statSync(target, { throwIfNoEntry: false });
  if (!stat) {
    process.stderr.write(`no such file or folder: ${target}\n`);
    process.exit(1);
  }
  if (!stat.isDirectory()) return [target];
  return readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.test.js'))
    .map((name) => join(target, name))
    .filter(hasSource);
}

const files = (targets.length ? targets.map((t) => resolve(t)) : [root])
  .flatMap(testFiles)
  .map((file) => relative(process.cwd(), file))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no *.test.js under ${targets.join(' ') || root}\n`);
  process.exit(1);
}

// Node 20 prints TAP when stdout is not a terminal, Node 22+ its spec format: CI logs
// read the same on both with TAP, which closes with "# tests N", "# pass N", "# fail N".
const reporter = process.stdout.isTTY ? [] : ['--test-reporter=tap'];
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...reporter, ...files], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(signal ? 128 + constants.signals[signal] : code ?? 1));
