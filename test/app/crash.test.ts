import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseJournal } from '../../src/app/journal.js';
import { register, request, spawnServer, tempDataDir } from './helpers.js';

test('kill -9 in the middle of a stream of registrations loses no acknowledged one', { timeout: 30_000 }, async () => {
  const dataDir = tempDataDir('pushwire-crash-');
  const first = await spawnServer(['--port', '0', '--data-dir', dataDir, '--capacity', '100000']);
  const acknowledged: string[] = [];
  let attempted = 0;
  let killed = false;
  // Eight clients registering as fast as they can; the kill comes while requests are in flight.
  const client = async (k: number) => {
    for (let i = 0; !killed; i++) {
      const name = `client${k}-${i}`;
      attempted++;
      try {
        const a = await register(first.base, name);
        if (a.status === 201) acknowledged.push(name);
        else assert.fail(`unexpected ${a.status} ${a.text}`);
      } catch (err) {
        if (!killed) throw err;
      }
    }
  };
  const clients = Array.from({ length: 8 }, (_, k) => client(k));
  while (acknowledged.length < 300) await new Promise((resolve) => setTimeout(resolve, 5));
  killed = true;
  first.child.kill('SIGKILL');
  await Promise.all(clients);
  await first.exited;
  const acked = [...acknowledged];

  const second = await spawnServer(['--port', '0', '--data-dir', dataDir, '--capacity', '100000']);
  try {
    const { json: state } = await request(second.base, 'GET', '/api/registrations');
    // Every acknowledged registration is counted; an unacknowledged one may or may not be (it may have reached the disk).
    assert.ok(state.count >= acked.length, `count ${state.count} after ${acked.length} acknowledged`);
    assert.ok(state.count <= attempted, `count ${state.count} after ${attempted} attempts`);
    // And it is there by name: registering it again is refused.
    const again = await Promise.all(acked.map((name) => register(second.base, name.toUpperCase())));
    for (const [i, a] of again.entries()) assert.deepEqual([acked[i], a.status, a.json], [acked[i], 409, { error: 'already registered' }]);
    // The journal holds exactly the counted places, 1..count, each name once.
    const journal = parseJournal(fs.readFileSync(path.join(dataDir, 'registrations.journal')));
    assert.equal(journal.tornBytes, 0);
    assert.equal(journal.registrations.length, state.count);
    assert.equal(new Set(journal.registrations.map((r) => r.name)).size, state.count);
    for (const name of acked) assert.ok(journal.registrations.some((r) => r.name === name), name);
  } finally {
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  }
});

test('a torn last line after a crash is skipped on start, and registration goes on after it', { timeout: 20_000 }, async () => {
  const dataDir = tempDataDir('pushwire-torn-');
  const first = await spawnServer(['--port', '0', '--data-dir', dataDir, '--capacity', '10']);
  for (const name of ['Ada', 'Bob', 'Cy']) assert.equal((await register(first.base, name)).status, 201);
  first.child.kill('SIGKILL');
  await first.exited;
  // What a crash in the middle of a write leaves: the start of a record, no newline.
  const file = path.join(dataDir, 'registrations.journal');
  fs.appendFileSync(file, '3f2a9c1b {"n":4,"name":"Do');

  const second = await spawnServer(['--port', '0', '--data-dir', dataDir, '--capacity', '10']);
  try {
    assert.equal((await request(second.base, 'GET', '/api/registrations')).json.count, 3);
    assert.match(second.stderr(), /torn/);
    assert.deepEqual((await register(second.base, 'Dora')).json, { count: 4, capacity: 10 });
    assert.equal((await register(second.base, 'bob')).status, 409);
  } finally {
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  }
  const journal = parseJournal(fs.readFileSync(file));
  assert.equal(journal.tornBytes, 0);
  assert.deepEqual(journal.registrations.map((r) => r.name), ['Ada', 'Bob', 'Cy', 'Dora']);
});
