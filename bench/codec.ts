/**
 * Codec bench: decode of masked client frames (parse + unmask + UTF-8 check),
 * encode of server frames, and mask/unmask throughput — ours beside ws.
 *
 * Every implementation is measured in a fresh child process of its own:
 * "ours", "ws-js" (ws with WS_NO_BUFFER_UTIL=1, which ws reads when it is
 * first required) and "ws-bu" (ws with bufferutil, when installed).
 */
import { randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { benchScale, createRequireHere, hasBufferutil, printTable, tick, type Row, serveRequests, Worker, wsLib } from './lib.js';

export const SIZES = [16, 125, 1024, 64 * 1024, 1024 * 1024];
/** The byte stream is cut into socket-sized reads, regardless of frame boundaries. */
const READ_SIZE = 64 * 1024;
const MASK_SIZE = 64 * 1024;

type Impl = 'ours' | 'ws-js' | 'ws-bu';

interface WorkerResult {
  /** size -> payload bytes per second */
  decode: Record<number, number>;
  /** size -> frames per second, for a Buffer payload and a string payload */
  encode: Record<number, number>;
  encodeHeader: Record<number, number>;
  encodeString: Record<number, number>;
  /** name -> bytes per second */
  mask: Record<string, number>;
}

export function sizeLabel(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

/** ASCII text of exactly n bytes, JSON-like, as chat or push payloads are. */
function textPayload(n: number): string {
  const base = '{"event":"chat message","data":"the quick brown fox jumps over the lazy dog 0123456789"},';
  return base.repeat(Math.ceil(n / base.length)).slice(0, n);
}

/** Masked client text frames, back to back, enough for about `bytes` of stream. */
function clientStream(size: number, bytes: number): { stream: Buffer; frames: number } {
  const payload = Buffer.from(textPayload(size));
  const header = 2 + (size < 126 ? 0 : size < 65536 ? 2 : 8) + 4;
  const frames = Math.max(2, Math.ceil(bytes / (header + size)));
  const stream = Buffer.allocUnsafe(frames * (header + size));
  const keys = Buffer.allocUnsafe(4 * frames);
  randomFillSync(keys);
  let o = 0;
  for (let f = 0; f < frames; f++) {
    stream[o] = 0x81;
    if (size < 126) { stream[o + 1] = 0x80 | size; o += 2; }
    else if (size < 65536) { stream[o + 1] = 0x80 | 126; stream.writeUInt16BE(size, o + 2); o += 4; }
    else { stream[o + 1] = 0x80 | 127; stream.writeUInt32BE(0, o + 2); stream.writeUInt32BE(size, o + 6); o += 10; }
    const k = o;
    keys.copy(stream, o, 4 * f, 4 * f + 4);
    o += 4;
    for (let i = 0; i < size; i++) stream[o + i] = payload[i]! ^ stream[k + (i & 3)]!;
    o += size;
  }
  return { stream, frames };
}

/**
 * Runs fn() in rounds of roughly `roundMs` and returns the best rate
 * (units per second), after a warm-up round. fn returns the units it did.
 */
async function bestRate(fn: () => number, roundMs: number, rounds = 5): Promise<number> {
  let best = 0;
  for (let r = -1; r < rounds; r++) {
    let units = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(roundMs * 1e6));
    let now = start;
    do {
      units += fn();
      now = process.hrtime.bigint();
    } while (now < deadline);
    const rate = units / (Number(now - start) / 1e9);
    if (r >= 0 && rate > best) best = rate;
    await tick(); // let ws's Writable run its deferred callbacks
  }
  return best;
}

type Decoder = (chunk: Buffer) => void;

async function makeDecoder(impl: Impl, onMessage: (data: Buffer) => void): Promise<Decoder> {
  if (impl === 'ours') {
    const { FrameDecoder } = await import('../src/protocol/frame-decoder.js');
    const fail = (what: string) => () => { throw new Error(`decoder reported ${what}`); };
    const decoder = new FrameDecoder({
      onMessage: (data) => onMessage(data),
      onPing: fail('ping'), onPong: fail('pong'), onClose: fail('close'),
      onError: (err) => { throw err; },
    }, { expectMasked: true, maxMessageSize: 100 * 1024 * 1024 });
    return (chunk) => decoder.push(chunk);
  }
  const Receiver = wsLib('receiver.js');
  const receiver = new Receiver({ isServer: true, maxPayload: 100 * 1024 * 1024 });
  receiver.on('message', (data: Buffer) => onMessage(data));
  receiver.on('error', (err: Error) => { throw err; });
  return (chunk) => { receiver.write(chunk); };
}

const streams = new Map<number, { stream: Buffer; frames: number }>();

/** Payload bytes per second decoding `size`-byte frames. */
async function decodeOne(impl: Impl, size: number, scale: number): Promise<number> {
  let built = streams.get(size);
  if (!built) streams.set(size, built = clientStream(size, Math.max(4 * size, 1024 * 1024 * Math.min(1, scale))));
  const { stream: pristine, frames } = built;
  // Decoders unmask in place, so each pass works on a fresh copy of the stream.
  const work = Buffer.allocUnsafe(pristine.length);
  const chunks: Buffer[] = [];
  for (let o = 0; o < work.length; o += READ_SIZE) chunks.push(work.subarray(o, Math.min(work.length, o + READ_SIZE)));
  let messages = 0;
  let bytes = 0;
  const decode = await makeDecoder(impl, (data) => { messages++; bytes += data.length; });
  return bestRate(() => {
    pristine.copy(work);
    messages = 0;
    bytes = 0;
    for (let c = 0; c < chunks.length; c++) decode(chunks[c]!);
    if (messages !== frames || bytes !== frames * size) throw new Error(`${impl}: ${messages}/${frames} messages decoded at ${size} B`);
    return bytes;
  }, 80 * Math.min(1, scale * 4), 3);
}

interface EncodeResult { merged: Record<number, number>; header: Record<number, number>; str: Record<number, number> }

/** Frames per second for one size: merged frame, header only, from a string. */
async function encodeOne(impl: Impl, size: number, scale: number): Promise<{ merged: number; header: number; str: number }> {
  let sink = 0;
  let frameBuf: (payload: Buffer) => void;
  let headerOnly: (payload: Buffer) => void;
  let frameStr: (payload: string) => void;
  if (impl === 'ours') {
    const enc = await import('../src/protocol/frame-encoder.js');
    // What WebSocket.send does: small payloads merged behind their header (one write), large ones not copied.
    frameBuf = (p) => {
      sink += p.length <= enc.MERGE_LIMIT ? enc.encodeFrame(1, p).length : enc.encodeHeader(1, p.length).length;
    };
    // Like for like with ws's Sender.frame: the header alone, the payload left where it is.
    headerOnly = (p) => { sink += enc.encodeHeader(1, p.length).length; };
    frameStr = (s) => { sink += enc.encodeTextFrame(s).length; };
  } else {
    const Sender = wsLib('sender.js');
    // The options ws's Sender.send passes for a server frame.
    frameBuf = (p) => {
      const list = Sender.frame(p, { fin: true, mask: false, opcode: 1, readOnly: true, rsv1: false });
      sink += list[0].length;
    };
    headerOnly = frameBuf;
    frameStr = (s) => {
      const list = Sender.frame(s, { fin: true, mask: false, opcode: 1, readOnly: false, rsv1: false });
      sink += list[0].length;
    };
  }
  const payload = Buffer.from(textPayload(size));
  const text = textPayload(size);
  const batch = Math.max(1, Math.floor(256 * 1024 / size));
  const ms = 50 * Math.min(1, scale * 4);
  const merged = await bestRate(() => { for (let i = 0; i < batch; i++) frameBuf(payload); return batch; }, ms, 3);
  const header = await bestRate(() => { for (let i = 0; i < batch; i++) headerOnly(payload); return batch; }, ms, 3);
  const str = await bestRate(() => { for (let i = 0; i < batch; i++) frameStr(text); return batch; }, ms, 3);
  if (sink === 0) throw new Error('nothing encoded');
  return { merged, header, str };
}

async function maskBench(impl: Impl, scale: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const data = Buffer.alloc(MASK_SIZE, 0x61);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const ms = 60 * Math.min(1, scale * 4);
  const rate = (fn: () => void) => bestRate(() => { for (let i = 0; i < 16; i++) fn(); return 16 * MASK_SIZE; }, ms, 3);
  if (impl === 'ours') {
    const { maskJs } = await import('../src/protocol/js-mask.js');
    const { maskWasm, wasmMask } = await import('../src/protocol/wasm-mask.js');
    out['ours JS'] = await rate(() => maskJs(data, key, 0));
    if (wasmMask) {
      out['ours wasm'] = await rate(() => maskWasm(wasmMask, data, key, 0, data, 0, false));
      const kernel = wasmMask.kernel;
      out['ours wasm kernel'] = await rate(() => kernel(0, MASK_SIZE, 0x78563412));
    }
    const src = Buffer.alloc(MASK_SIZE, 0x62);
    out['Buffer.copy'] = await rate(() => { src.copy(data); });
  } else {
    // With WS_NO_BUFFER_UTIL this is ws's own JS loop; otherwise its bufferutil wrapper.
    const { unmask } = wsLib('buffer-util.js');
    out[impl === 'ws-js' ? 'ws JS' : 'ws bufferutil'] = await rate(() => unmask(data, key));
    if (impl === 'ws-bu') {
      const bufferutil = createRequireHere()('bufferutil');
      out['bufferutil native'] = await rate(() => bufferutil.unmask(data, key));
    }
  }
  return out;
}

function worker(impl: Impl): void {
  const scale = benchScale();
  serveRequests({
    decode: (size: number) => decodeOne(impl, size, scale),
    encode: (size: number) => encodeOne(impl, size, scale),
    mask: () => maskBench(impl, scale),
  });
}

function startWorker(impl: Impl): Worker {
  const env = { ...process.env };
  if (impl === 'ws-js') env.WS_NO_BUFFER_UTIL = '1';
  else delete env.WS_NO_BUFFER_UTIL;
  return new Worker('codec.js', [`--worker=${impl}`, `--scale=${benchScale()}`], env);
}

/**
 * All workers stay up and take turns, size by size, `reps` times over; each
 * figure is the best an implementation reached. Taking turns exposes every
 * implementation to the same background load of the (shared, 2-core) machine.
 */
async function measureAll(impls: Impl[], reps: number): Promise<Record<Impl, WorkerResult>> {
  const workers = new Map(impls.map((impl) => [impl, startWorker(impl)]));
  const results = {} as Record<Impl, WorkerResult>;
  for (const impl of impls) results[impl] = { decode: {}, encode: {}, encodeHeader: {}, encodeString: {}, mask: {} };
  const keepBest = (rec: Record<string | number, number>, key: string | number, v: number) => {
    if (!(rec[key]! >= v)) rec[key] = v;
  };
  try {
    for (let r = 0; r < reps; r++) {
      for (const size of SIZES) {
        for (const impl of impls) keepBest(results[impl].decode, size, await workers.get(impl)!.request<number>('decode', size));
        for (const impl of impls) {
          if (impl === 'ws-bu') continue; // server frames are never masked: bufferutil plays no part
          const e = await workers.get(impl)!.request<{ merged: number; header: number; str: number }>('encode', size);
          keepBest(results[impl].encode, size, e.merged);
          keepBest(results[impl].encodeHeader, size, e.header);
          keepBest(results[impl].encodeString, size, e.str);
        }
      }
      for (const impl of impls) {
        const m = await workers.get(impl)!.request<Record<string, number>>('mask');
        for (const [k, v] of Object.entries(m)) keepBest(results[impl].mask, k, v);
      }
    }
  } finally {
    for (const w of workers.values()) await w.stop();
  }
  return results;
}

const mbps = (bytesPerSec: number | undefined) => (bytesPerSec === undefined ? null : bytesPerSec / 1e6);

export async function run(): Promise<void> {
  const bu = hasBufferutil();
  const all = await measureAll(bu ? ['ours', 'ws-js', 'ws-bu'] : ['ours', 'ws-js'], benchScale() < 0.05 ? 1 : 3);
  const ours = all.ours;
  const wsJs = all['ws-js'];
  const wsBu = bu ? all['ws-bu'] : null;
  if (!bu) process.stdout.write('\nbufferutil not installed: the ws+bufferutil columns are skipped\n');

  const rows: Row[] = [];
  for (const size of SIZES) {
    const small = size <= 1024;
    rows.push({
      name: `decode ${sizeLabel(size)} vs ws JS`, unit: 'MB/s', better: 'higher',
      ours: mbps(ours.decode[size]), ws: mbps(wsJs.decode[size]), target: small ? 1.5 : undefined,
      note: `${((ours.decode[size] ?? 0) / size / 1e6).toFixed(2)}M frames/s ours`,
    });
    if (wsBu) {
      rows.push({
        name: `decode ${sizeLabel(size)} vs ws+bufferutil`, unit: 'MB/s', better: 'higher',
        ours: mbps(ours.decode[size]), ws: mbps(wsBu.decode[size]), target: small ? undefined : 1.0,
      });
    }
  }
  printTable('Decode: masked client text frames, parse + unmask + UTF-8 check (64 KiB reads)', rows);

  const erows: Row[] = [];
  for (const size of SIZES) {
    const small = size <= 1024;
    erows.push({ name: `encode ${sizeLabel(size)} Buffer, header only`, unit: 'frames/s', better: 'higher', ours: ours.encodeHeader[size] ?? null, ws: wsJs.encode[size] ?? null, target: small ? 1.5 : undefined });
    if (size <= 8192) {
      erows.push({ name: `encode ${sizeLabel(size)} Buffer, one merged frame`, unit: 'frames/s', better: 'higher', ours: ours.encode[size] ?? null, ws: wsJs.encode[size] ?? null, note: 'ours copies the payload (send: 1 write, not 2)' });
    }
    erows.push({ name: `encode ${sizeLabel(size)} from a string`, unit: 'frames/s', better: 'higher', ours: ours.encodeString[size] ?? null, ws: wsJs.encodeString[size] ?? null, target: small ? 1.5 : undefined });
  }
  printTable('Encode: server text frames (ours encodeHeader / encodeFrame / encodeTextFrame; ws Sender.frame, which never copies a Buffer payload)', erows);

  const m = { ...ours.mask, ...wsJs.mask, ...(wsBu?.mask ?? {}) };
  const gb = (k: string) => (m[k] === undefined ? null : m[k]! / 1e9);
  const native = gb('bufferutil native');
  const mrows: Row[] = [
    { name: 'ours JS vs ws JS', unit: 'GB/s', better: 'higher', ours: gb('ours JS'), ws: gb('ws JS'), target: 5 },
    { name: 'ours wasm (copy in/out) vs bufferutil', unit: 'GB/s', better: 'higher', ours: gb('ours wasm'), ws: native, note: native === null ? 'bufferutil not installed' : '' },
    { name: 'ours wasm kernel vs bufferutil', unit: 'GB/s', better: 'higher', ours: gb('ours wasm kernel'), ws: native, target: 1, note: 'data already in wasm memory' },
    { name: 'Buffer.copy (ceiling) vs bufferutil', unit: 'GB/s', better: 'higher', ours: gb('Buffer.copy'), ws: native },
  ];
  printTable(`Mask/unmask in place, ${MASK_SIZE / 1024} KiB buffer`, mrows);
}

const argWorker = process.argv.find((a) => a.startsWith('--worker='));
if (argWorker) {
  worker(argWorker.slice('--worker='.length) as Impl);
} else if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  await run();
}
