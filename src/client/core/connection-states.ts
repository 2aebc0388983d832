/**
 * A connection's life as data (the way h11 writes HTTP's): for each phase,
 * the events it expects, the phase each leads to and what is done on the way.
 * An event a phase does not list is stale (a timer or an answer of a
 * connection already let go) and changes nothing. The hub (hub.ts) decides
 * which event a fact is, runs the actions, and owns every timer.
 */

export type Phase =
  /** Nothing opened yet: waiting for the first listeners to settle. */
  | 'idle'
  | 'connecting'
  | 'open'
  /** Waiting out a backoff before connecting again. */
  | 'retrying'
  /** A technique never opened: asking the server over plain HTTP whether it is to blame. */
  | 'checking'
  | 'closed';

export type ConnectionEvent =
  /** Listeners are there and nothing is open. */
  | 'start'
  | 'opened'
  /** It ended after opening, or the last technique of the order failed: same technique, after a backoff. */
  | 'lost'
  /** It never opened and a lesser technique is left: is the server up? */
  | 'refused'
  /** The server did not answer, or the technique has not failed twice yet: wait and try it again. */
  | 'down'
  /** The server answers plain HTTP and the technique failed twice: fall back to the next one. */
  | 'blamed'
  /** The backoff is over. */
  | 'due'
  /** The channels changed and cannot be changed in band: re-open from the cursors. */
  | 'reshape'
  /** A probe of the first technique opened while a fallback was open: it takes over. */
  | 'promoted'
  | 'close';

export type Action =
  | 'open' // open the live connection with the current technique and channels
  | 'stop' // stop the live connection
  | 'stopProbe' // stop a probe and its timer
  | 'healthy' // reset the failure count; plan a probe if fallen back
  | 'wait' // a backoff timer, then 'due'
  | 'check' // ask the server, then 'down' or 'blamed'
  | 'fallBack' // the next technique of the order
  | 'takeProbe' // the probe becomes the live connection
  | 'release'; // the hub is done: its owner forgets it

/** What the status shows for each phase. */
export const SHOWN: Record<Phase, 'connecting' | 'open' | 'retrying' | 'closed'> = {
  idle: 'connecting',
  connecting: 'connecting',
  open: 'open',
  retrying: 'retrying',
  checking: 'retrying',
  closed: 'closed',
};

type Row = Partial<Record<ConnectionEvent, readonly [Phase, ...Action[]]>>;

const CLOSE = ['closed', 'stopProbe', 'stop', 'release'] as const;

export const TRANSITIONS: Record<Phase, Row> = {
  idle: { start: ['connecting', 'open'], close: CLOSE },
  connecting: {
    opened: ['open', 'healthy'],
    lost: ['retrying', 'stop', 'stopProbe', 'wait'],
    refused: ['checking', 'stop', 'stopProbe', 'check'],
    reshape: ['connecting', 'stop', 'open'],
    close: CLOSE,
  },
  open: {
    lost: ['retrying', 'stop', 'stopProbe', 'wait'],
    reshape: ['connecting', 'stop', 'open'],
    promoted: ['open', 'stop', 'takeProbe', 'healthy'],
    close: CLOSE,
  },
  retrying: { due: ['connecting', 'open'], close: CLOSE },
  checking: { down: ['retrying', 'wait'], blamed: ['connecting', 'fallBack', 'open'], close: CLOSE },
  closed: {},
};


/**
 * The way back to the first technique, beside the phase: after falling back,
 * a probe of the first technique is planned; it opens beside the fallback and
 * takes over when it opens (docs/PROTOCOL.md §4.6).
 */
export type ProbePhase = 'none' | 'planned' | 'probing';
/** `skip`: the planned time came, but the fallback is not open (a broken one is retried the usual way). */
export type ProbeEvent = 'plan' | 'due' | 'skip' | 'opened' | 'failed' | 'reshape' | 'stop';
export type ProbeAction = 'timer' | 'openProbe' | 'stopProbe' | 'cancelTimer';

export const PROBE_TRANSITIONS: Record<ProbePhase, Partial<Record<ProbeEvent, readonly [ProbePhase, ...ProbeAction[]]>>> = {
  none: { plan: ['planned', 'timer'] },
  planned: { due: ['probing', 'openProbe'], skip: ['none'], stop: ['none', 'cancelTimer'] },
  // A probe opened with the old channels would come back with the wrong set: plan it again.
  probing: { opened: ['none'], failed: ['planned', 'stopProbe', 'timer'], reshape: ['planned', 'stopProbe', 'timer'], stop: ['none', 'stopProbe'] },
};
