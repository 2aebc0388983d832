// Measures the five push techniques side by side on loopback (docs/PROTOCOL.md §3).
// Not a test (plain .mjs, never built or run by npm test). Run after `npm run build:test`:
//   node test/push/measure-techniques.mjs [seconds] [pollIntervalMs] [meanGapMs]
// One server, one client per technique, all on one channel; messages published at
// random moments (exponential gaps, mean meanGapMs), each carrying its publish time.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WsClient from 'ws';
import { createPushwireServer } from '../../build/src/pushwire-server.js';

const seconds = Number(process.argv[2] ?? 20);
const pollInterval = Number(process.argv[3] ?? 1000);
const meanGap = Number(process.argv[4] ?? 500);
const now = () => performance.timeOrigin + performance.now();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-measure-'));
const server = createPushwireServer({ port: 0, host: '127.0.0.1', capacity: 100, dataDir, maxMessage: 1 << 20 }, { log: () => {} });
const { port } = await server.listen();
const base = `http://127.0.0.1:${port}`;
const ch = 'measure';

const stats = {};
function record(name, msg) {
  const s = (stats[name] ??= { got: 0, latencies: [], requests: 0, empty: 0, sockets: new Set() });
  s.got++;
  s.latencies.push(now() - msg.data.t);
}
const track = (name, socket) => (stats[name] ??= { got: 0, latencies: [], requests: 0, empty: 0, sockets: new Set() }).sockets.add(socket);

let stopped = false;
function pollLoop(kind) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let since = 0;
  const once = () => new Promise((resolve, reject) => {
    const req = http.get(`${base}/push/${kind}?channel=${ch}&since=${since}`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('socket', (s) => track(kind, s));
    req.on('error', reject);
  });
  (async () => {
    while (!stopped) {
      const answer = await once();
      const s = (stats[kind] ??= { got: 0, latencies: [], requests: 0, empty: 0, sockets: new Set() });
      s.requests++;
      if (answer.messages.length === 0) s.empty++;
      for (const m of answer.messages) { record(kind, m); since = m.id; }
      if (kind === 'poll') await new Promise((r) => setTimeout(r, pollInterval));
    }
  })().catch(() => {});
}

function stream(kind) {
  const req = http.get(`${base}/push/${kind}?channel=${ch}&since=0${kind === 'iframe' ? '&callback=f' : ''}`, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c) => {
      text += c;
      const re = kind === 'sse' ? /id: (\d+)\nevent: [^\n]*\ndata: ([^\n]*)\n\n/g : /<script>_\(\)&&parent\.f\((.*?)\)<\/script>/g;
      let m, end = 0;
      while ((m = re.exec(text))) {
        const msg = kind === 'sse' ? { id: Number(m[1]), data: JSON.parse(m[2]) } : JSON.parse(m[1]);
        record(kind, msg);
        end = re.lastIndex;
      }
      text = text.slice(end);
    });
  });
  req.on('socket', (s) => track(kind, s));
  req.on('error', () => {});
  return req;
}

pollLoop('poll');
pollLoop('longpoll');
const sse = stream('sse');
const iframe = stream('iframe');
const ws = new WsClient(`ws://127.0.0.1:${port}/push/ws?channel=${ch}&since=0`);
ws.on('open', () => track('ws', ws._socket));
ws.on('message', (d) => record('ws', JSON.parse(d.toString())));
await new Promise((r) => setTimeout(r, 300));

let published = 0;
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  await new Promise((r) => setTimeout(r, -Math.log(1 - Math.random()) * meanGap));
  server.push.publish(ch, 'count', { count: ++published, t: now() });
}
await new Promise((r) => setTimeout(r, pollInterval + 200));
stopped = true;

const rows = [];
for (const kind of ['poll', 'longpoll', 'sse', 'iframe', 'ws']) {
  const s = stats[kind];
  const lat = s.latencies.sort((a, b) => a - b);
  let read = 0, written = 0;
  for (const sock of s.sockets) { read += sock.bytesRead; written += sock.bytesWritten; }
  rows.push({
    technique: kind, messages: `${s.got}/${published}`,
    requests: kind.endsWith('poll') ? s.requests : 1,
    'empty answers': kind.endsWith('poll') ? s.empty : '-',
    'latency median ms': lat[Math.floor(lat.length / 2)].toFixed(1),
    'latency max ms': lat[lat.length - 1].toFixed(1),
    'bytes per message (both ways)': ((read + written) / s.got).toFixed(0),
  });
}
console.log(`${published} messages in ${seconds} s (Poisson, mean gap ${meanGap} ms); short poll every ${pollInterval} ms`);
console.table(rows);
sse.destroy(); iframe.destroy(); ws.close();
await server.shutdown();
fs.rmSync(dataDir, { recursive: true, force: true });
