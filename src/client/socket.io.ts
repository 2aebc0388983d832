/*! pushwire Socket.IO client (MIT): io() over Engine.IO v4 and Socket.IO v5, no dependencies. Source: src/client/socket.io.ts */
/**
 * pushwire's own browser client for its Socket.IO endpoint, served as
 * /socket.io/socket.io.js. A classic script that defines `io()` with the
 * API of socket.io-client that pages use:
 *
 *     <script src="/socket.io/socket.io.js"></script>
 *     var socket = io();
 *     socket.on('chat message', function (msg) { ... });
 *     socket.emit('chat message', 'hello', function (answer) { ... });
 *
 * It opens over HTTP long-polling, upgrades to WebSocket when the server
 * offers it, answers the server's heartbeat, reconnects with exponential
 * backoff, and recovers the connection state when the server keeps it
 * (socket.recovered, events missed while away delivered on return). Binary
 * arguments (ArrayBuffer, typed arrays) travel as attachments.
 * docs/PROTOCOL.md §5 describes the wire.
 */
namespace pushwireSocketIo {
  type Listener = (...args: any[]) => void;

  /** A tiny event emitter: on/once/off and a local emit. */
  class Emitter {
    private handlers: Record<string, Listener[]> = {};

    on(event: string, fn: Listener): this {
      (this.handlers[event] ??= []).push(fn);
      return this;
    }

    once(event: string, fn: Listener): this {
      const wrapper: Listener = (...args) => {
        this.off(event, wrapper);
        fn.apply(this, args);
      };
      (wrapper as { original?: Listener }).original = fn;
      return this.on(event, wrapper);
    }

    off(event?: string, fn?: Listener): this {
      if (event === undefined) this.handlers = {};
      else if (fn === undefined) delete this.handlers[event];
      else {
        const list = this.handlers[event];
        if (list) this.handlers[event] = list.filter((l) => l !== fn && (l as { original?: Listener }).original !== fn);
      }
      return this;
    }

    removeAllListeners(event?: string): this {
      return this.off(event);
    }

    listeners(event: string): Listener[] {
      return this.handlers[event]?.slice() ?? [];
    }

    hasListeners(event: string): boolean {
      return (this.handlers[event]?.length ?? 0) > 0;
    }

    protected emitLocal(event: string, ...args: unknown[]): void {
      for (const fn of this.listeners(event)) {
        try {
          fn.apply(this, args);
        } catch (err) {
          setTimeout(() => { throw err; });
        }
      }
    }
  }

  // ---- Engine.IO v4 ---------------------------------------------------------

  const SEPARATOR = '\x1e';

  function toBase64(bytes: Uint8Array): string {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
    return btoa(binary);
  }

  function fromBase64(text: string): ArrayBuffer {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
    return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  type EngineData = string | ArrayBuffer | ArrayBufferView;

  interface EngineOptions {
    path: string;
    query: Record<string, string>;
    transports: string[];
    upgrade: boolean;
  }

  /** One Engine.IO session: 'open', 'message' (string or ArrayBuffer), 'close' (reason). */
  class Engine extends Emitter {
    readyState: 'opening' | 'open' | 'closed' = 'opening';
    transport: 'polling' | 'websocket';
    sid = '';
    private pingInterval = 25000;
    private pingTimeout = 20000;
    private maxPayload = 1e6;
    private pingTimer: ReturnType<typeof setTimeout> | null = null;
    private ws: WebSocket | null = null;
    private probe: WebSocket | null = null;
    private polling = false;
    private pollInFlight = false;
    private postInFlight = false;
    /** The close packet's POST, held until the POST in flight is answered: Engine.IO takes one POST at a time. */
    private closePost: (() => void) | null = null;
    private pollAbort: AbortController | null = null;
    /** Packets (already encoded as text, or binary) waiting to be sent. */
    private writeBuffer: EngineData[] = [];
    private upgrading = false;

    constructor(private readonly base: string, private readonly opts: EngineOptions) {
      super();
      this.transport = opts.transports[0] === 'websocket' ? 'websocket' : 'polling';
    }

    private url(transport: string, ws: boolean): string {
      const params = new URLSearchParams(this.opts.query);
      params.set('EIO', '4');
      params.set('transport', transport);
      if (this.sid) params.set('sid', this.sid);
      if (!ws) params.set('t', Date.now().toString(36) + Math.random().toString(36).slice(2, 6));
      const base = ws ? this.base.replace(/^http/, 'ws') : this.base;
      return `${base}${this.opts.path}?${params}`;
    }

    open(): void {
      if (this.transport === 'websocket') this.openWebSocket();
      else {
        this.polling = true;
        this.poll();
      }
    }

    // -- receiving

    private onPacket(data: EngineData): void {
      if (this.readyState === 'closed') return;
      this.armPingTimer();
      if (typeof data !== 'string') return this.emitLocal('message', data);
      const type = data.charAt(0);
      const body = data.slice(1);
      switch (type) {
        case '0': return this.onHandshake(body);
        case '1': return this.onClose('transport close');
        case '2': return this.sendPacket('3');
        case '4': return this.emitLocal('message', body);
        case '6': return;
        case 'b': return this.emitLocal('message', fromBase64(body));
        default: return this.onClose('parse error');
      }
    }

    private onHandshake(json: string): void {
      let handshake: { sid: string; upgrades: string[]; pingInterval: number; pingTimeout: number; maxPayload: number };
      try {
        handshake = JSON.parse(json);
      } catch {
        return this.onClose('parse error');
      }
      this.sid = handshake.sid;
      this.pingInterval = handshake.pingInterval;
      this.pingTimeout = handshake.pingTimeout;
      this.maxPayload = handshake.maxPayload || 1e6;
      this.readyState = 'open';
      this.armPingTimer();
      this.emitLocal('open');
      if (this.transport === 'polling' && this.opts.upgrade && this.opts.transports.includes('websocket') && handshake.upgrades.includes('websocket')) {
        this.tryUpgrade();
      }
    }

    /** The server pings every pingInterval: silence for longer than that plus pingTimeout means the link is gone. */
    private armPingTimer(): void {
      if (this.pingTimer !== null) clearTimeout(this.pingTimer);
      this.pingTimer = setTimeout(() => this.onClose('ping timeout'), this.pingInterval + this.pingTimeout);
    }

    // -- HTTP long-polling

    private poll(): void {
      if (!this.polling || this.pollInFlight || this.readyState === 'closed') return;
      this.pollInFlight = true;
      this.pollAbort = new AbortController();
      fetch(this.url('polling', false), { cache: 'no-store', signal: this.pollAbort.signal })
        .then((res) => {
          if (!res.ok) throw new Error(`poll answered ${res.status}`);
          return res.text();
        })
        .then((text) => {
          this.pollInFlight = false;
          for (const part of text.split(SEPARATOR)) this.onPacket(part);
          if (this.upgrading && this.readyState !== 'closed') this.maybeFinishUpgrade();
          else this.poll();
        }, () => {
          this.pollInFlight = false;
          if (this.polling) this.onClose('transport error');
        });
    }

    private flushPolling(): void {
      if (this.postInFlight || this.writeBuffer.length === 0 || this.readyState === 'closed') return;
      // Batches stay under the server's maxPayload (one packet alone may be bigger; the server decides).
      const parts: string[] = [];
      let size = 0;
      while (this.writeBuffer.length > 0) {
        const next = this.writeBuffer[0]!;
        const text = typeof next === 'string' ? next : 'b' + toBase64(asBytes(next));
        if (parts.length > 0 && size + text.length + 1 > this.maxPayload) break;
        parts.push(text);
        size += text.length + 1;
        this.writeBuffer.shift();
      }
      this.postInFlight = true;
      fetch(this.url('polling', false), {
        method: 'POST', body: parts.join(SEPARATOR), headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, cache: 'no-store',
      }).then((res) => {
        this.postInFlight = false;
        if (this.sendClosePost()) return;
        if (!res.ok) throw new Error(`post answered ${res.status}`);
        if (this.upgrading) this.maybeFinishUpgrade();
        else this.flush();
      }).catch(() => {
        this.postInFlight = false;
        if (!this.sendClosePost()) this.onClose('transport error');
      });
    }

    /** Sends the held close POST, if any; true when it did. */
    private sendClosePost(): boolean {
      const send = this.closePost;
      if (send === null) return false;
      this.closePost = null;
      send();
      return true;
    }

    // -- WebSocket

    private openWebSocket(): void {
      const ws = new WebSocket(this.url('websocket', true));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onmessage = (ev) => this.onPacket(ev.data);
      ws.onclose = () => { if (this.ws === ws) this.onClose('transport close'); };
      ws.onerror = () => { if (this.ws === ws) this.onClose('transport error'); };
    }

    /** The upgrade: a second connection probed with "2probe"; once "3probe" comes back, polling pauses and "5" switches. */
    private tryUpgrade(): void {
      const probe = new WebSocket(this.url('websocket', true));
      probe.binaryType = 'arraybuffer';
      this.probe = probe;
      const fail = () => {
        if (this.probe !== probe) return;
        this.probe = null;
        this.upgrading = false;
        probe.onopen = probe.onmessage = probe.onclose = probe.onerror = null;
        try { probe.close(); } catch { /* already closed */ }
        if (this.readyState === 'open' && this.transport === 'polling') {
          this.poll();
          this.flush();
        }
      };
      probe.onopen = () => probe.send('2probe');
      probe.onmessage = (ev) => {
        if (ev.data !== '3probe') return fail();
        this.upgrading = true;
        this.maybeFinishUpgrade();
      };
      probe.onerror = fail;
      probe.onclose = fail;
    }

    /** Switches once no poll and no post is in flight, so nothing is lost or reordered. */
    private maybeFinishUpgrade(): void {
      const probe = this.probe;
      if (!this.upgrading || probe === null || this.pollInFlight || this.postInFlight) return;
      this.upgrading = false;
      this.probe = null;
      this.polling = false;
      probe.send('5');
      this.transport = 'websocket';
      this.ws = probe;
      probe.onopen = null;
      probe.onmessage = (ev) => this.onPacket(ev.data);
      probe.onclose = () => { if (this.ws === probe) this.onClose('transport close'); };
      probe.onerror = () => { if (this.ws === probe) this.onClose('transport error'); };
      this.emitLocal('upgrade', 'websocket');
      this.flush();
    }

    // -- sending

    sendPacket(text: EngineData): void {
      if (this.readyState === 'closed') return;
      this.writeBuffer.push(text);
      this.flush();
    }

    /** A message packet: text gets the "4" type, binary goes as it is. */
    send(data: EngineData): void {
      this.sendPacket(typeof data === 'string' ? '4' + data : data);
    }

    private flush(): void {
      if (this.readyState !== 'open') return;
      if (this.transport === 'websocket') {
        const ws = this.ws;
        if (ws === null || ws.readyState !== 1) return;
        for (const packet of this.writeBuffer.splice(0)) ws.send(packet as string | ArrayBuffer);
      } else if (!this.upgrading) {
        this.flushPolling();
      }
    }

    get writable(): boolean {
      return this.readyState === 'open' && (this.transport === 'websocket' ? this.ws?.readyState === 1 : !this.postInFlight);
    }

    /** Closes on purpose: the close packet, then nothing. */
    close(): void {
      if (this.readyState === 'closed') return;
      if (this.readyState === 'open') {
        if (this.transport === 'websocket' && this.ws?.readyState === 1) {
          this.ws.send('1');
        } else if (this.transport === 'polling') {
          // What is still buffered (a DISCONNECT, say) goes first, in the same POST, after the one in flight.
          const body = [...this.writeBuffer.map((p) => (typeof p === 'string' ? p : 'b' + toBase64(asBytes(p)))), '1'].join(SEPARATOR);
          const url = this.url('polling', false);
          // The held poll stays until the server has the close packet (it answers the poll then):
          // a poll dropped first is a transport error to Engine.IO, which would end the session
          // before the close arrives, and answer that 400.
          const heldPoll = this.pollAbort;
          this.pollAbort = null;
          this.closePost = () => {
            void fetch(url, { method: 'POST', body, cache: 'no-store' }).catch(() => {}).finally(() => heldPoll?.abort());
          };
          if (!this.postInFlight) this.sendClosePost();
        }
      }
      this.onClose('io client disconnect');
    }

    private onClose(reason: string): void {
      if (this.readyState === 'closed') return;
      this.readyState = 'closed';
      this.polling = false;
      this.upgrading = false;
      if (this.pingTimer !== null) clearTimeout(this.pingTimer);
      this.pollAbort?.abort();
      for (const ws of [this.ws, this.probe]) {
        if (ws === null) continue;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try { ws.close(); } catch { /* already closed */ }
      }
      this.ws = this.probe = null;
      this.writeBuffer = [];
      this.emitLocal('close', reason);
    }
  }

  // ---- Socket.IO v5 packets ---------------------------------------------------

  const CONNECT = 0, DISCONNECT = 1, EVENT = 2, ACK = 3, CONNECT_ERROR = 4, BINARY_EVENT = 5, BINARY_ACK = 6;

  interface Packet {
    type: number;
    nsp: string;
    id?: number;
    data?: any;
    attachments?: number;
  }

  function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
    return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
  }

  function hasBinary(value: unknown): boolean {
    if (value === null || typeof value !== 'object') return false;
    if (isBinary(value)) return true;
    if (Array.isArray(value)) return value.some(hasBinary);
    return Object.keys(value).some((k) => hasBinary((value as Record<string, unknown>)[k]));
  }

  function deconstruct(value: unknown, buffers: Array<ArrayBuffer | ArrayBufferView>): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (isBinary(value)) {
      buffers.push(value);
      return { _placeholder: true, num: buffers.length - 1 };
    }
    if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers));
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = deconstruct((value as Record<string, unknown>)[key], buffers);
    return out;
  }

  function reconstruct(value: any, buffers: ArrayBuffer[]): any {
    if (value === null || typeof value !== 'object') return value;
    if (value._placeholder === true && typeof value.num === 'number') return buffers[value.num];
    for (const key of Object.keys(value)) value[key] = reconstruct(value[key], buffers);
    return value;
  }

  function encode(packet: Packet): EngineData[] {
    let data = packet.data;
    let type = packet.type;
    const buffers: Array<ArrayBuffer | ArrayBufferView> = [];
    if ((type === EVENT || type === ACK) && hasBinary(data)) {
      data = deconstruct(data, buffers);
      type = type === EVENT ? BINARY_EVENT : BINARY_ACK;
    }
    let text = String(type);
    if (buffers.length > 0) text += buffers.length + '-';
    if (packet.nsp !== '/') text += packet.nsp + ',';
    if (packet.id !== undefined) text += packet.id;
    if (data !== undefined) text += JSON.stringify(data);
    return [text, ...buffers];
  }

  /** Decodes Socket.IO packets from Engine.IO messages; binary packets wait for their attachments. */
  class Decoder {
    private pending: Packet | null = null;
    private buffers: ArrayBuffer[] = [];

    add(message: string | ArrayBuffer): Packet | null {
      if (typeof message !== 'string') {
        if (this.pending === null) throw new Error('unexpected binary data');
        this.buffers.push(message);
        if (this.buffers.length < this.pending.attachments!) return null;
        const packet = this.pending;
        packet.data = reconstruct(packet.data, this.buffers);
        this.pending = null;
        this.buffers = [];
        return packet;
      }
      const match = /^(\d)(?:(\d+)-)?(?:(\/[^,]*),?)?(\d+)?([\s\S]*)$/.exec(message);
      if (match === null) throw new Error('malformed packet');
      const packet: Packet = { type: Number(match[1]), nsp: match[3] ?? '/' };
      if (match[4] !== undefined) packet.id = Number(match[4]);
      if (match[5]) packet.data = JSON.parse(match[5]);
      if (packet.type === BINARY_EVENT || packet.type === BINARY_ACK) {
        packet.type = packet.type === BINARY_EVENT ? EVENT : ACK;
        packet.attachments = Number(match[2]);
        this.pending = packet;
        return null;
      }
      return packet;
    }

    reset(): void {
      this.pending = null;
      this.buffers = [];
    }
  }

  // ---- Manager: one connection, its namespaces, reconnection ----------------------

  export interface ManagerOptions {
    path?: string;
    query?: Record<string, string>;
    transports?: string[];
    upgrade?: boolean;
    reconnection?: boolean;
    reconnectionAttempts?: number;
    reconnectionDelay?: number;
    reconnectionDelayMax?: number;
    randomizationFactor?: number;
    /** Time allowed to open a connection before it counts as failed. */
    timeout?: number;
    autoConnect?: boolean;
  }

  export interface SocketOptions {
    auth?: Record<string, unknown> | ((cb: (auth: Record<string, unknown>) => void) => void);
  }

  export class Manager extends Emitter {
    engine: Engine | null = null;
    readonly opts: Required<ManagerOptions>;
    readyState: 'opening' | 'open' | 'closed' = 'closed';
    readonly nsps: Record<string, Socket> = {};
    private readonly decoder = new Decoder();
    private attempts = 0;
    private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
    private openTimer: ReturnType<typeof setTimeout> | null = null;
    private reconnecting = false;
    private skipReconnect = false;

    constructor(readonly uri: string, opts: ManagerOptions = {}) {
      super();
      this.opts = {
        path: '/socket.io',
        query: {},
        transports: ['polling', 'websocket'],
        upgrade: true,
        reconnection: true,
        reconnectionAttempts: Infinity,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 5000,
        randomizationFactor: 0.5,
        timeout: 20000,
        autoConnect: true,
        ...opts,
      };
    }

    /** Opens the connection (if not open or opening); `fn` hears the outcome once. */
    open(fn?: (err?: Error) => void): this {
      if (this.readyState !== 'closed') return this;
      this.skipReconnect = false;
      this.readyState = 'opening';
      const path = this.opts.path.replace(/\/*$/, '/');
      const engine = new Engine(this.uri, { path, query: this.opts.query, transports: this.opts.transports, upgrade: this.opts.upgrade });
      this.engine = engine;
      engine.on('open', () => {
        if (this.openTimer !== null) clearTimeout(this.openTimer);
        this.readyState = 'open';
        this.decoder.reset();
        this.emitLocal('open');
        fn?.();
      });
      engine.on('message', (data: string | ArrayBuffer) => this.onMessage(data));
      engine.on('close', (reason: string) => {
        if (this.engine !== engine) return;
        if (this.openTimer !== null) clearTimeout(this.openTimer);
        const wasOpen = this.readyState === 'open';
        this.readyState = 'closed';
        this.engine = null;
        if (!wasOpen) {
          const err = new Error('xhr poll error');
          fn?.(err);
          this.emitLocal('error', err);
          for (const nsp of Object.keys(this.nsps)) this.nsps[nsp]!.onOpenFailed(err);
        } else {
          this.emitLocal('close', reason);
          for (const nsp of Object.keys(this.nsps)) this.nsps[nsp]!.onManagerClose(reason);
        }
        if (!this.skipReconnect && this.opts.reconnection) this.reconnect();
      });
      this.openTimer = setTimeout(() => engine.close(), this.opts.timeout);
      engine.open();
      return this;
    }

    connect(fn?: (err?: Error) => void): this {
      return this.open(fn);
    }

    private onMessage(data: string | ArrayBuffer): void {
      let packet: Packet | null;
      try {
        packet = this.decoder.add(data);
      } catch {
        this.engine?.close();
        return;
      }
      if (packet !== null) this.nsps[packet.nsp]?.onPacket(packet);
    }

    /** @internal */
    packet(packet: Packet): void {
      const engine = this.engine;
      if (engine === null) return;
      for (const part of encode(packet)) engine.send(part);
    }

    /** @internal A socket is gone: with none left, the connection closes. */
    destroySocket(socket: Socket): void {
      for (const nsp of Object.keys(this.nsps)) if (this.nsps[nsp]!.active) return;
      void socket;
      this.close();
    }

    close(): void {
      this.skipReconnect = true;
      this.reconnecting = false;
      if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.engine?.close();
    }

    /** Exponential backoff with jitter, as socket.io-client's. */
    private delay(): number {
      const base = this.opts.reconnectionDelay * Math.pow(2, this.attempts);
      const jitter = this.opts.randomizationFactor;
      const spread = jitter > 0 ? (Math.random() * 2 - 1) * jitter * base : 0;
      return Math.min(Math.max(0, base + spread), this.opts.reconnectionDelayMax);
    }

    private reconnect(): void {
      if (this.reconnecting || this.skipReconnect) return;
      if (this.attempts >= this.opts.reconnectionAttempts) {
        this.attempts = 0;
        this.emitLocal('reconnect_failed');
        return;
      }
      const delay = this.delay();
      this.reconnecting = true;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (this.skipReconnect) return;
        this.attempts++;
        this.emitLocal('reconnect_attempt', this.attempts);
        this.open((err) => {
          this.reconnecting = false;
          if (err) {
            this.emitLocal('reconnect_error', err);
            this.reconnect();
          } else {
            const attempts = this.attempts;
            this.attempts = 0;
            this.emitLocal('reconnect', attempts);
          }
        });
      }, delay);
    }
  }

  // ---- Socket: one namespace --------------------------------------------------------

  const RESERVED = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];

  export class Socket extends Emitter {
    id: string | undefined = undefined;
    connected = false;
    /** True after a reconnection in which the server restored this socket and sent what it missed. */
    recovered = false;
    auth: SocketOptions['auth'];
    private readonly sendBuffer: Packet[] = [];
    private readonly receiveBuffer: unknown[][] = [];
    private readonly acks: Record<number, Listener> = {};
    private ids = 0;
    private pid: string | undefined;
    private lastOffset: string | undefined;
    private flags: { volatile?: boolean; timeout?: number } = {};
    private anyListeners: Listener[] = [];
    /** Wants to be connected (until disconnect() or the server's DISCONNECT). */
    active = false;

    constructor(readonly io: Manager, readonly nsp: string, opts: SocketOptions = {}) {
      super();
      this.auth = opts.auth;
      if (io.opts.autoConnect) this.connect();
    }

    get disconnected(): boolean {
      return !this.connected;
    }

    connect(): this {
      if (this.connected) return this;
      this.active = true;
      this.io.nsps[this.nsp] = this;
      if (this.io.readyState === 'open') this.sendConnect();
      else this.io.open();
      return this;
    }

    open(): this {
      return this.connect();
    }

    /** @internal */
    onManagerOpen(): void {
      if (this.active && !this.connected) this.sendConnect();
    }

    private sendConnect(): void {
      const send = (auth: Record<string, unknown> | undefined) => {
        const data: Record<string, unknown> = { ...(auth ?? {}) };
        if (this.pid !== undefined) {
          data.pid = this.pid;
          if (this.lastOffset !== undefined) data.offset = this.lastOffset;
        }
        this.io.packet({ type: CONNECT, nsp: this.nsp, data });
      };
      if (typeof this.auth === 'function') this.auth(send);
      else send(this.auth);
    }

    /** @internal */
    onOpenFailed(err: Error): void {
      if (!this.connected) this.emitLocal('connect_error', err);
    }

    /** @internal */
    onManagerClose(reason: string): void {
      if (!this.connected) return;
      this.connected = false;
      this.id = undefined;
      this.emitLocal('disconnect', reason);
    }

    /** @internal */
    onPacket(packet: Packet): void {
      switch (packet.type) {
        case CONNECT:
          if (packet.data && typeof packet.data.sid === 'string') return this.onConnect(packet.data.sid, packet.data.pid);
          return this.emitLocal('connect_error', new Error('bad CONNECT answer'));
        case EVENT:
          return this.onEvent(packet);
        case ACK: {
          const ack = this.acks[packet.id!];
          if (typeof ack === 'function') {
            delete this.acks[packet.id!];
            ack.apply(this, packet.data);
          }
          return;
        }
        case DISCONNECT:
          this.active = false;
          this.connected = false;
          this.id = undefined;
          this.emitLocal('disconnect', 'io server disconnect');
          this.io.destroySocket(this);
          return;
        case CONNECT_ERROR: {
          this.active = false;
          const err = new Error(packet.data?.message ?? String(packet.data)) as Error & { data?: unknown };
          err.data = packet.data?.data;
          this.emitLocal('connect_error', err);
          return;
        }
      }
    }

    private onConnect(id: string, pid: string | undefined): void {
      this.id = id;
      this.recovered = pid !== undefined && this.pid === pid;
      this.pid = pid;
      this.connected = true;
      this.emitLocal('connect');
      // Events that came before the CONNECT answer was handled, then what was emitted while away.
      for (const args of this.receiveBuffer.splice(0)) this.dispatch(args);
      for (const packet of this.sendBuffer.splice(0)) this.io.packet(packet);
    }

    private onEvent(packet: Packet): void {
      const args: unknown[] = packet.data;
      if (packet.id !== undefined) args.push(this.ackFor(packet.id));
      if (this.connected) this.dispatch(args);
      else this.receiveBuffer.push(args);
    }

    private dispatch(args: unknown[]): void {
      // With recovery on, a string last argument is the offset to come back with.
      if (this.pid !== undefined && args.length > 0 && typeof args[args.length - 1] === 'string') this.lastOffset = args[args.length - 1] as string;
      for (const fn of this.anyListeners.slice()) fn.apply(this, args);
      this.emitLocal(String(args[0]), ...args.slice(1));
    }

    private ackFor(id: number): Listener {
      let sent = false;
      return (...args: unknown[]) => {
        if (sent) return;
        sent = true;
        this.io.packet({ type: ACK, nsp: this.nsp, id, data: args });
      };
    }

    /** Sends an event; a function as last argument gets the server's acknowledgement. */
    emit(event: string, ...args: unknown[]): this {
      if (RESERVED.includes(event)) throw new Error(`"${event}" is a reserved event name`);
      const flags = this.flags;
      this.flags = {};
      const data: unknown[] = [event, ...args];
      const packet: Packet = { type: EVENT, nsp: this.nsp, data };
      if (typeof data[data.length - 1] === 'function') {
        const id = this.ids++;
        let ack = data.pop() as Listener;
        if (flags.timeout !== undefined) {
          const callback = ack;
          const timer = setTimeout(() => {
            delete this.acks[id];
            callback.call(this, new Error('operation has timed out'));
          }, flags.timeout);
          ack = (...answer: unknown[]) => {
            clearTimeout(timer);
            callback.apply(this, [null, ...answer]);
          };
        }
        this.acks[id] = ack;
        packet.id = id;
      }
      if (this.connected && this.io.engine !== null) this.io.packet(packet);
      else if (!flags.volatile) this.sendBuffer.push(packet);
      return this;
    }

    emitWithAck(event: string, ...args: unknown[]): Promise<any> {
      const withTimeout = this.flags.timeout !== undefined;
      return new Promise((resolve, reject) => {
        args.push((first: unknown, second: unknown) => {
          if (!withTimeout) return resolve(first);
          return first ? reject(first) : resolve(second);
        });
        this.emit(event, ...args);
      });
    }

    send(...args: unknown[]): this {
      return this.emit('message', ...args);
    }

    timeout(ms: number): this {
      this.flags.timeout = ms;
      return this;
    }

    get volatile(): this {
      this.flags.volatile = true;
      return this;
    }

    onAny(fn: Listener): this {
      this.anyListeners.push(fn);
      return this;
    }

    offAny(fn?: Listener): this {
      this.anyListeners = fn === undefined ? [] : this.anyListeners.filter((l) => l !== fn);
      return this;
    }

    /** Leaves the namespace; the connection closes when no other namespace uses it. */
    disconnect(): this {
      if (this.connected) this.io.packet({ type: DISCONNECT, nsp: this.nsp });
      const wasConnected = this.connected;
      this.active = false;
      this.connected = false;
      this.id = undefined;
      if (wasConnected) this.emitLocal('disconnect', 'io client disconnect');
      this.io.destroySocket(this);
      return this;
    }

    close(): this {
      return this.disconnect();
    }
  }

  const managers: Record<string, Manager> = {};

  /**
   * io(), io('/namespace'), io('http://host:port/namespace', options): a
   * socket on a connection shared with the other namespaces of that server
   * (a new connection for a namespace already in use, or with forceNew).
   */
  export function lookup(uri?: string | (ManagerOptions & SocketOptions & { forceNew?: boolean }), opts: ManagerOptions & SocketOptions & { forceNew?: boolean; multiplex?: boolean } = {}): Socket {
    if (typeof uri === 'object') {
      opts = uri;
      uri = undefined;
    }
    const url = uri === undefined ? null : new URL(uri, location.href);
    const origin = url === null ? location.origin : url.origin;
    const nsp = url === null ? '/' : url.pathname;
    const path = (opts.path ?? '/socket.io').replace(/\/*$/, '');
    const key = origin + path;
    const query: Record<string, string> = { ...(opts.query ?? {}) };
    url?.searchParams.forEach((value, name) => { query[name] = value; });
    const cached = managers[key];
    const newManager = opts.forceNew || opts.multiplex === false || cached === undefined || cached.nsps[nsp]?.active === true;
    let manager: Manager;
    if (newManager) {
      manager = new Manager(origin, { ...opts, path, query });
      manager.on('open', () => { for (const name of Object.keys(manager.nsps)) manager.nsps[name]!.onManagerOpen(); });
      if (!opts.forceNew && opts.multiplex !== false) managers[key] = manager;
    } else {
      manager = cached!;
    }
    return new Socket(manager, nsp, opts);
  }
}

/** The global of socket.io-client's browser bundle: io(), io.Manager, io.Socket, io.protocol. */
var io = Object.assign(pushwireSocketIo.lookup, {
  connect: pushwireSocketIo.lookup,
  Manager: pushwireSocketIo.Manager,
  Socket: pushwireSocketIo.Socket,
  protocol: 5,
});
