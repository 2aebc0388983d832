/**
 * `npm run fuzz`: the frame decoder and the HTTP paths with far more random
 * input than the fuzz and attack tests of `npm test`, bounded in time.
 *
 *   npm run fuzz                          60 s, seed 21 (0x15): 30 % decoder, 40 % HTTP, 30 % pipelining
 *   node build/bench/fuzz.js --seconds 300 --seed 7
 *   node build/bench/fuzz.js --only decoder|http|pipelining
 *   node build/bench/fuzz.js --only http --case 1234 --seed 7    replays one case, printing it
 *
 * The seed is printed first; a failure prints its case number and the command
 * that replays it. Exit code 0 when every invariant held, 1 otherwise.
 */
import { checkDecoderCase, decoderCase } from './fuzz-decoder.js';
import { caseSeed, fuzzHttp } from './fuzz-http.js';
import { fuzzPipelining } from './fuzz-pipelining.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const seconds = Number(option('seconds') ?? 60);
const seed = Number(option('seed') ?? 0x15);
const only = option('only');
const replay = option('case') === undefined ? null : Number(option('case'));
if (!(seconds > 0) || !Number.isInteger(seed) || (only !== undefined && only !== 'decoder' && only !== 'http' && only !== 'pipelining') ||
  (replay !== null && (!Number.isInteger(replay) || replay < 0 || only === undefined))) {
  process.stderr.write('usage: fuzz [--seconds N] [--seed S] [--only decoder|http|pipelining [--case K]]\n');
  process.exit(2);
}
const log = (line: string) => process.stdout.write(line + '\n');
const replayCommand = (phase: string, index: number) => `node build/bench/fuzz.js --only ${phase} --case ${index} --seed ${seed}`;

log(`pushwire fuzz: node ${process.version}, seed ${seed}, ${seconds} s${only ? `, ${only} only` : ''}`);
let failed = false;
const started = Date.now();
const decoderShare = only === 'decoder' ? 1 : only === undefined ? 0.3 : 0;
const httpShare = only === 'http' ? 1 : only === undefined ? 0.4 : 0;

if (only === undefined || only === 'decoder') {
  const deadline = started + seconds * 1000 * decoderShare;
  let cases = 0;
  let bytes = 0;
  const outcomes = new Map<string, number>();
  for (let index = replay ?? 0; replay === null ? Date.now() < deadline : index === replay; index++) {
    const c = decoderCase(caseSeed(seed, index));
    const { problem, events } = checkDecoderCase(c);
    cases++;
    bytes += c.bytes.length;
    const end = events[events.length - 1];
    const outcome = end?.type === 'error' ? `error ${end.code}` : end?.type === 'close' ? 'close' : c.expected ? 'clean' : 'open';
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (replay !== null) log(`case ${index}: ${c.bytes.length} bytes, masked ${c.expectMasked}, max ${c.maxMessageSize}, rsv1 ${c.allowRsv1}, cuts ${c.cuts.length}; ${events.length} events, last ${outcome}`);
    if (problem) {
      failed = true;
      log(`DECODER FAILURE, case ${index}: ${problem}\n  bytes: ${c.bytes.toString('hex').slice(0, 400)}\n  replay: ${replayCommand('decoder', index)}`);
      break;
    }
    if (replay === null && cases % 20_000 === 0) log(`  decoder: ${cases} cases`);
  }
  const mb = (bytes / 1024 / 1024).toFixed(1);
  log(`decoder: ${cases} cases, ${mb} MiB, each decoded whole and in pieces; outcomes ${[...outcomes].sort().map(([k, v]) => `${k}×${v}`).join(', ')}`);
}

if ((only === undefined || only === 'http') && !failed) {
  const result = await fuzzHttp(seed, started + seconds * 1000 * (decoderShare + httpShare), replay, log);
  const statuses = [...result.statuses].sort().map(([k, v]) => `${k}×${v}`).join(' ');
  log(`http: ${result.cases} requests; answers ${statuses}`);
  log(`http: probe GET /api/registrations answered ${result.probe.count} times throughout, p50 ${result.probe.p50.toFixed(1)} ms, ` +
    `p99 ${result.probe.p99.toFixed(1)} ms, max ${result.probe.max.toFixed(1)} ms`);
  if (result.problems.length > 0) {
    failed = true;
    for (const problem of result.problems.slice(0, 10)) log(`HTTP FAILURE: ${problem}`);
    const index = /case (\d+)/.exec(result.problems[0]!)?.[1];
    if (index !== undefined) log(`  replay: ${replayCommand('http', Number(index))}`);
  }
}

if ((only === undefined || only === 'pipelining') && !failed) {
  const result = await fuzzPipelining(seed, started + seconds * 1000, replay, log);
  log(`pipelining: ${result.cases} connections, ${result.requests} requests pipelined on them, each closed${result.problems.length ? '' : '; every gauge back to its baseline after'}`);
  if (result.problems.length > 0) {
    failed = true;
    for (const problem of result.problems.slice(0, 10)) log(`PIPELINING FAILURE: ${problem}`);
    log(`  (a gauge left behind is not one case's: rerun with --only pipelining --seconds 5 to narrow it, then --case K to print one)`);
  }
}

log(`${failed ? 'FAILED' : 'ok'}: seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
