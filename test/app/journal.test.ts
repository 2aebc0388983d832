import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Journal, JournalError, formatRecord, parseJournal } from '../../src/app/journal.js';
import { Registrations, nameFromBody } from '../../src/app/registrations.js';
import type { AppPush } from '../../src/app/push-api.js';
import { HttpError } from '../../src/http/respond.js';
import { tempDataDir } from './helpers.js';

const JOURNAL = 'registrations.journal';

function lines(...names: string[]): string {
  return names.map((name, i) => formatRecord({ n: i + 1, name, at: 1_700_000_000_000 + i })).join('');
}

test('a record is one checksummed JSON line', () => {
  const line = formatRecord({ n: 1, name: 'Ada "the first"\n', at: 5 });
  assert.match(line, /^[0-9a-f]{8} \{"n":1,"name":"Ada \\"the first\\"\\n","at":5\}\n$/);
  assert.deepEqual(parseJournal(Buffer.from(line)), { registrations: [{ n: 1, name: 'Ada "the first"\n', at: 5 }], tornBytes: 0 });
});

test('a torn last record is detected and cut off on open, and appends go on cleanly after it', async () => {
  const good = lines('Ada', 'Bob', 'Cy');
  const torn = [
    formatRecord({ n: 4, name: 'Dee', at: 9 }).slice(0, 20), // write cut short: no newline
    formatRecord({ n: 4, name: 'Dee', at: 9 }).slice(0, -1), // all but the newline
    '\0\0\0\0\0\0\0\0\0\0\0\0', // zero-filled block after a power loss
    'deadbeef {"n":4,"name":"Dee","at":9}\n', // bad checksum
    formatRecord({ n: 4, name: 'Dee', at: 9 }).replace('Dee', 'Dex'), // a flipped byte
    'garbage\n\0\0\0', // several bad lines, all at the end
  ];
  for (const tail of torn) {
    const dir = tempDataDir();
    fs.writeFileSync(path.join(dir, JOURNAL), good + tail);
    const { journal, replay } = Journal.open(dir);
    assert.deepEqual(replay.registrations.map((r) => r.name), ['Ada', 'Bob', 'Cy'], JSON.stringify(tail));
    assert.equal(replay.tornBytes, Buffer.byteLength(tail));
    await journal.append({ n: 4, name: 'Eve', at: 10 });
    await journal.close();
    const after = fs.readFileSync(path.join(dir, JOURNAL));
    assert.equal(after.toString(), good + formatRecord({ n: 4, name: 'Eve', at: 10 }), 'the torn bytes are gone');
    assert.deepEqual(parseJournal(after).registrations.map((r) => r.name), ['Ada', 'Bob', 'Cy', 'Eve']);
  }
});

test('damage before good records, or places out of sequence, refuse to start', () => {
  const dir = tempDataDir();
  const [a, b, c] = lines('Ada', 'Bob', 'Cy').split(/(?<=\n)/);
  fs.writeFileSync(path.join(dir, JOURNAL), a! + b!.replace('Bob', 'Bub') + c!);
  assert.throws(() => Journal.open(dir), JournalError);
  fs.writeFileSync(path.join(dir, JOURNAL), a! + c!);
  assert.throws(() => Journal.open(dir), /place 3/);
});

test('concurrent appends are group-committed, in order, and all durable', async () => {
  const dir = tempDataDir();
  const { journal } = Journal.open(dir);
  const writes = fs.write;
  let writeCalls = 0;
  // Count the write system calls: a group commit makes far fewer than one per record.
  (fs as { write: unknown }).write = (...args: unknown[]) => {
    writeCalls++;
    return (writes as (...a: unknown[]) => void)(...args);
  };
  try {
    await Promise.all(Array.from({ length: 500 }, (_, i) => journal.append({ n: i + 1, name: `n${i + 1}`, at: i })));
  } finally {
    (fs as { write: unknown }).write = writes;
  }
  await journal.close();
  const { registrations, tornBytes } = parseJournal(fs.readFileSync(path.join(dir, JOURNAL)));
  assert.equal(tornBytes, 0);
  assert.deepEqual(registrations.map((r) => r.n), Array.from({ length: 500 }, (_, i) => i + 1));
  assert.ok(writeCalls >= 1 && writeCalls < 50, `500 records in ${writeCalls} writes`);
  await assert.rejects(journal.append({ n: 501, name: 'late', at: 0 }), JournalError);
});

test('a registration is acknowledged only after its fdatasync completes; a failed sync fails it and stops the journal', async () => {
  const dir = tempDataDir();
  const { journal, replay } = Journal.open(dir);
  const service = new Registrations(journal, replay.registrations, 10, recorder());
  const datasync = fs.fdatasync;
  const held: ((err: Error | null) => void)[] = [];
  const onSync: Array<() => void> = [];
  const syncCalled = () => new Promise<void>((resolve) => (held.length > 0 ? resolve() : onSync.push(resolve)));
  (fs as { fdatasync: unknown }).fdatasync = (_fd: number, callback: (err: Error | null) => void) => {
    held.push(callback);
    for (const wake of onSync.splice(0)) wake();
  };
  try {
    let settled = false;
    const first = service.register('Ada').then((r) => ((settled = true), r));
    await syncCalled();
    await new Promise((resolve) => setImmediate(resolve)); // (time for a wrong early answer to show)
    assert.equal(held.length, 1, 'one fdatasync in flight');
    assert.equal(settled, false, 'no answer before the sync completes');
    assert.equal(service.count, 0, 'not shown as taken before it is durable');
    assert.match(fs.readFileSync(path.join(dir, JOURNAL), 'utf8'), /"Ada"/, 'written before the sync');
    held.shift()!(null);
    assert.equal((await first).count, 1);
    assert.equal(service.count, 1);

    const second = service.register('Bob');
    await syncCalled();
    held.shift()!(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await assert.rejects(second, (err: HttpError) => err.status === 503);
    await assert.rejects(service.register('Cy'), (err: HttpError) => err.status === 503);
  } finally {
    (fs as { fdatasync: unknown }).fdatasync = datasync;
  }
  await service.close();
});

test('names: trimmed, 1 to 100 code points, well-formed', () => {
  assert.equal(nameFromBody({ name: '  Ada \n' }), 'Ada');
  assert.equal(nameFromBody({ name: '😀'.repeat(100) }), '😀'.repeat(100));
  const bad: unknown[] = [null, [], 'Ada', 5, {}, { name: 5 }, { name: null }, { name: '' }, { name: ' \t\n\u3000' }, { name: '😀'.repeat(101) }, { name: 'a'.repeat(101) }, { name: 'Ad\ud800a' }, { name: '\udc00' }];
  for (const body of bad) assert.throws(() => nameFromBody(body), (err: unknown) => err instanceof HttpError && err.status === 400, JSON.stringify(body));
});

/** Records what the service publishes (unit tests only: the HTTP tests use the real push layer). */
function recorder(): AppPush & { published: { channel: string; event: string; data: unknown }[] } {
  const published: { channel: string; event: string; data: unknown }[] = [];
  return {
    published,
    publish(channel, event, data) {
      published.push({ channel, event, data });
      return Promise.resolve();
    },
    last: () => Promise.resolve(published.length),
    on() {},
  };
}

test('the service never passes the capacity, prefers "already registered" to "full", and publishes each count in order', async () => {
  const dir = tempDataDir();
  const { journal, replay } = Journal.open(dir);
  const push = recorder();
  const service = new Registrations(journal, replay.registrations, 10, push);
  const names = Array.from({ length: 40 }, (_, i) => `Name${i % 25}`); // 15 duplicates by case below
  const attempts = names.map((name, i) => service.register(i >= 25 ? name.toUpperCase() : name).then(
    (ok) => ({ status: 201, count: ok.count }),
    (err: HttpError) => ({ status: err.status, error: err.message }),
  ));
  const results = await Promise.all(attempts);
  assert.equal(results.filter((r) => r.status === 201).length, 10);
  assert.deepEqual(results.filter((r) => r.status === 201).map((r) => (r as { count: number }).count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Names 0..9 were taken; their upper-case twins are "already registered" even though the list is full.
  for (let i = 25; i < 35; i++) assert.deepEqual(results[i], { status: 409, error: 'already registered' }, `attempt ${i}`);
  for (let i = 35; i < 40; i++) assert.deepEqual(results[i], { status: 409, error: 'full' }, `attempt ${i}`);
  assert.deepEqual(push.published.map((p) => [p.channel, p.event, (p.data as { count: number }).count]), Array.from({ length: 10 }, (_, i) => ['registrations', 'count', i + 1]));
  assert.deepEqual(await service.state(), { count: 10, capacity: 10, last: 10 });
  await service.close();
  await assert.rejects(service.register('Late'), (err: HttpError) => err.status === 503);

  // Replayed: the same places, the same names.
  const again = Journal.open(dir);
  const restarted = new Registrations(again.journal, again.replay.registrations, 12, recorder());
  assert.equal(restarted.count, 10);
  await assert.rejects(restarted.register('name3'), (err: HttpError) => err.status === 409 && err.message === 'already registered');
  assert.equal((await restarted.register('New')).count, 11);
  await restarted.close();
});
