/**
 * Connect/disconnect cycles of each push technique, on raw TCP sockets, each
 * cycle a connection of its own: what the no-leak test (test/hardening) and
 * `npm run soak` run against a server, to find what a connection leaves
 * behind once gone. Half the clients leave politely (FIN, a close frame, or
 * an answer awaited), half abruptly (RST).
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { encodeFrame, nextMaskKey } from '../src/protocol/frame-encoder.js';
import { Opcode } from '../src/protocol/constants.js';

export type CycleTechnique = 'poll' | 'longpoll' | 'sse' | 'iframe' | 'websocket';
export const CYCLE_TECHNIQUES: readonly CycleTechnique[] = ['poll', 'longpoll', 'sse', 'iframe', 'websocket'];

export interface CycleReport {
  technique: CycleTechnique;
  cycles: number;
  ms: number;
  /** Cycles whose answer was not the expected status (200, or 101 for WebSocket). */
  failures: number;
  firstFailure: string | null;
}

const CLOSE_FRAME_PAYLOAD = Buffer.from([0x03, 0xe8]); // 1000

function requestFor(technique: CycleTechnique, channel: string, i: number, port: number): string {
  const host = `Host: 127.0.0.1:${port}\r\n`;
  switch (technique) {
    case 'poll': return `GET /push/poll?channel=${channel}&since=0 HTTP/1.1\r\n${host}Connection: close\r\n\r\n`;
    // Even cycles wait for the timer's answer; odd ones are held, then abandoned.
    case 'longpoll': return `GET /push/longpoll?channel=${channel}&timeout=${i % 2 === 0 ? 1 : 60000} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`;
    case 'sse': return `GET /push/sse?channel=${channel} HTTP/1.1\r\n${host}\r\n`;
    case 'iframe': return `GET /push/iframe?channel=${channel}&callback=f HTTP/1.1\r\n${host}\r\n`;
    case 'websocket': return `GET /push/ws?channel=${channel} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  }
}

/** One cycle: connect, subscribe, leave; resolves with null, or what went wrong, once the socket is closed. */
function cycle(port: number, technique: CycleTechnique, channel: string, i: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    let verdict: string | null | undefined;
    const expected = technique === 'websocket' ? 101 : 200;
    const abrupt = i % 2 === 1;
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.on('close', () => resolve(verdict === undefined ? `closed before an answer: ${JSON.stringify(text.slice(0, 80))}` : verdict));
    socket.write(requestFor(technique, channel, i, port));
    if (technique === 'longpoll' && abrupt) {
      // Held by now as a rule (the request went out; the server answers nothing for a minute).
      setTimeout(() => { verdict = null; socket.resetAndDestroy(); }, 5);
      return;
    }
    socket.on('data', (chunk: string) => {
      if (verdict !== undefined) return;
      text += chunk;
      if (!text.includes('\r\n\r\n')) return;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      verdict = status === expected ? null : `status ${status}: ${text.slice(0, 200)}`;
      if (verdict !== null || technique === 'poll' || technique === 'longpoll') return; // the server closes (Connection: close)
      if (abrupt) return void socket.resetAndDestroy();
      if (technique === 'websocket') socket.write(encodeFrame(Opcode.Close, CLOSE_FRAME_PAYLOAD, true, false, nextMaskKey()));
      else socket.end();
    });
    // A polite WebSocket client closes the TCP connection after the server's close frame.
    if (technique === 'websocket' && !abrupt) socket.on('end', () => socket.end());
  });
}

/** `count` cycles of one technique, at most `concurrency` at once. */
export async function runCycles(port: number, technique: CycleTechnique, count: number, concurrency = 50, channel = 'cycles'): Promise<CycleReport> {
  const started = performance.now();
  let next = 0;
  let failures = 0;
  let firstFailure: string | null = null;
  const worker = async () => {
    while (next < count) {
      const problem = await cycle(port, technique, channel, next++);
      if (problem !== null) {
        failures++;
        firstFailure ??= problem;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { technique, cycles: count, ms: performance.now() - started, failures, firstFailure };
}
