// Reading the push techniques' wire in tests (docs/PROTOCOL.md §3): SSE events,
// the iframe's script calls, a polling answer, a stream's text as it arrives.
import http from 'node:http';

/**
 * Each complete SSE event in `text` from `from`, as its fields (comment lines
 * skipped, a repeated field joined with "\n"); returns where the next event starts.
 */
export function parseSseEvents(text: string, from: number, onEvent: (fields: Record<string, string>) => void): number {
  for (;;) {
    const end = text.indexOf('\n\n', from);
    if (end === -1) return from;
    const block = text.slice(from, end);
    from = end + 2;
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields[name] = fields[name] === undefined ? value : fields[name] + '\n' + value;
    }
    onEvent(fields);
  }
}

/** Each complete `<script>_()&&parent.<callback>(…)</script>` in `text` from `from`, as its parsed argument; returns where parsing stopped. */
export function parseIframeCalls(text: string, from: number, callback: string, onCall: (argument: unknown) => void): number {
  const open = `<script>_()&&parent.${callback}(`;
  const close = ')</script>';
  for (;;) {
    const start = text.indexOf(open, from);
    if (start === -1) return from;
    const end = text.indexOf(close, start);
    if (end === -1) return from;
    onCall(JSON.parse(text.slice(start + open.length, end)));
    from = end + close.length;
  }
}

/**
 * Polls `url()` in a loop until `close()`: `sent` as each request goes, `answer` with each JSON
 * answer, a pause of `pauseMs` after each short poll. A failed poll (a status other than 200
 * included) ends the loop, logged unless closed.
 */
export function pollLoop(kind: 'poll' | 'longpoll', url: () => string, agent: http.Agent | false | undefined, pauseMs: number,
  on: { sent?(): void; answer(answer: any): void }): { close(): void } {
  let stopped = false;
  let current: http.ClientRequest | null = null;
  const once = (): Promise<any> => new Promise((resolve, reject) => {
    current = http.get(url(), { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${kind}: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`));
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      });
      res.on('error', reject);
    });
    current.on('error', reject);
    on.sent?.();
  });
  void (async () => {
    while (!stopped) {
      let answer;
      try {
        answer = await once();
      } catch (err) {
        if (!stopped) console.error(err);
        return;
      }
      on.answer(answer);
      if (kind === 'poll') await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })();
  return { close() { stopped = true; current?.destroy(); } };
}

/** A GET read as text as it arrives: after each chunk `onText` gets all the text so far. Errors only end it. */
export function readStream(url: string, options: { headers?: Record<string, string>; agent?: http.Agent | false }, onText: (text: string) => void):
  { req: http.ClientRequest; response: Promise<http.IncomingMessage>; ended: Promise<void>; raw(): string } {
  let text = '';
  let resolveResponse!: (res: http.IncomingMessage) => void;
  let resolveEnded!: () => void;
  const response = new Promise<http.IncomingMessage>((resolve) => (resolveResponse = resolve));
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  const req = http.get(url, { headers: options.headers ?? {}, agent: options.agent }, (res) => {
    res.setEncoding('utf8');
    resolveResponse(res);
    res.on('data', (chunk: string) => {
      text += chunk;
      onText(text);
    });
    res.on('end', resolveEnded);
    res.on('close', resolveEnded);
    res.on('error', () => resolveEnded());
  });
  req.on('error', () => resolveEnded());
  return { req, response, ended, raw: () => text };
}

/** What both WebSocket clients in the tests (ours and the `ws` package) have in common here. */
interface WsEmitter {
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

/** A /push/ws client's messages parsed as JSON into `onMessage`; `ready` on open (rejects if closed first), `closed` with the close. */
export function watchPushWs(ws: WsEmitter, onMessage: (message: unknown) => void):
  { ready: Promise<void>; closed: Promise<{ code: number; reason: string }> } {
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  ready.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data: Buffer) => onMessage(JSON.parse(data.toString('utf8'))));
  ws.on('error', () => {});
  return { ready, closed };
}
