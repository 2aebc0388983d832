/**
 * Fuzzing of the HTTP paths for `npm run fuzz`: random request lines, heads,
 * bodies and upgrades followed by garbage (test/hardening/random-requests.ts)
 * against a real `node dist/server.js` on 127.0.0.1, many at once. Checked:
 * every answer as in the attack test (no 5xx but 503, JSON errors); every
 * connection answered or closed within 15 s; the server never exits and logs
 * no failure; a probe request is answered throughout; at the end the server
 * holds no connection but the scrape's.
 */
import http from 'node:http';
import { metric, rawExchange, scrapeUntil, startServer, type Server } from '../test/hardening/helpers.js';
import { answerProblem, ENDPOINTS, prng, randomRequest, SHAPES, type RandomRequest } from '../test/hardening/random-requests.js';

export const SERVER_ARGS = ['--headers-timeout', '1000', '--max-message', '65536', '--idle-timeout', '5000'];
const CONCURRENCY = 48;
const EXCHANGE_TIMEOUT = 15_000;

/** The request of case `index` for a run seeded `seed`, and whether the client half-closes after it. */
export function httpCase(seed: number, index: number): { request: RandomRequest; end: boolean } {
  const rand = prng(caseSeed(seed, index));
  const endpoint = ENDPOINTS[Math.floor(rand() * ENDPOINTS.length)]!;
  const shape = SHAPES[Math.floor(rand() * SHAPES.length)]!;
  const request = randomRequest(rand, endpoint, shape);
  // An open upgrade may stay open for good: those always end; others sometimes leave the server to time out.
  return { request, end: shape === 'upgrade' || rand() < 0.8 };
}

/** A seed of its own for every case, so that one case replays without the ones before it. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}

export interface HttpFuzzResult {
  cases: number;
  problems: string[];
  statuses: Map<string, number>;
  probe: { count: number; p50: number; p99: number; max: number };
}

function probe(base: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(`${base}/api/registrations`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`probe: ${res.statusCode}`))));
    });
    req.setTimeout(5000, () => req.destroy(new Error('probe: no answer in 5 s')));
    req.on('error', reject);
  });
}

/** Runs cases from `first` on until `deadline` (or only `only`), against a server started here. */
export async function fuzzHttp(seed: number, deadline: number, only: number | null, log: (line: string) => void): Promise<HttpFuzzResult> {
  const server: Server = await startServer(SERVER_ARGS);
  const statuses = new Map<string, number>();
  const problems: string[] = [];
  const probes: number[] = [];
  let next = only ?? 0;
  const last = only ?? Infinity;
  let done = 0;
  let stopping = false;
  const exited = server.exited.then(({ code, signal }) => {
    if (!stopping) problems.push(`the server exited (code ${code}, signal ${signal}); stderr:\n${server.stderr()}`);
  });
  const crashed = () => server.child.exitCode !== null || server.child.signalCode !== null;

  const worker = async () => {
    while (next <= last && Date.now() < deadline && problems.length === 0) {
      const index = next++;
      const { request, end } = httpCase(seed, index);
      let answer;
      try {
        answer = await rawExchange(server.port, request.bytes, { end, timeout: EXCHANGE_TIMEOUT });
      } catch (err) {
        problems.push(`case ${index} (${request.shape}): ${(err as Error).message}\n  request: ${JSON.stringify(request.bytes.toString('latin1').slice(0, 200))}`);
        break;
      }
      if (only !== null) log(`case ${index} (${request.shape}, end ${end}):\n  request: ${JSON.stringify(request.bytes.toString('latin1').slice(0, 400))}\n  answer:  ${JSON.stringify(answer.text.slice(0, 400))}`);
      const key = answer.status === null ? 'closed' : String(answer.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const problem = answerProblem(request, answer.status, answer.json);
      if (problem) problems.push(`case ${index} (${request.shape}): ${problem}\n  request: ${JSON.stringify(request.bytes.toString('latin1').slice(0, 200))}`);
      if (crashed()) break;
      done++;
      if (done % 1000 === 0) log(`  http: ${done} cases`);
    }
  };
  const prober = async () => {
    while (next <= last && Date.now() < deadline && problems.length === 0 && !crashed()) {
      try {
        probes.push(await probe(server.base));
      } catch (err) {
        problems.push(`the probe failed: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await Promise.all([...Array.from({ length: only === null ? CONCURRENCY : 1 }, worker), prober()]);

  if (problems.length === 0 && !crashed()) {
    if (/failed|Error|\bat /.test(server.stderr())) problems.push(`the server logged a failure:\n${server.stderr()}`);
    try {
      await scrapeUntil(server.base, (text) => metric(text, 'pushwire_connections_open') === 1, 'every fuzz connection closed', 20_000);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  stopping = true;
  if (!crashed()) await server.stop();
  await exited;
  const sorted = probes.sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { cases: done, problems, statuses, probe: { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN } };
}
