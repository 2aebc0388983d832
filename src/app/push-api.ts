/**
 * The part of the push layer (src/push) the demo uses. Declared here so the
 * app depends on a small surface, and unit tests can hand in a recorder.
 */
export interface AppPush {
  /** Publishes on a channel; resolves once the message has the channel's next id, rejects when the log cannot take it. */
  publish(channel: string, event: string, data: unknown): Promise<unknown>;
  /** The channel's latest id. */
  last(channel: string): Promise<number>;
  /** The latest id this process has seen, without asking a shared log (a fallback while it is away). */
  knownLast?(channel: string): number;
  /** Handles an event sent by any client; throwing the push layer's EventRefused refuses it. */
  on(event: string, handler: (data: unknown, client: unknown) => void | Promise<unknown>): unknown;
}
