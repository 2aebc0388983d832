/**
 * The part of the push layer (src/push) the demo uses. Declared here so the
 * app depends on a small surface, and unit tests can hand in a recorder.
 */
export interface AppPush {
  /** Publishes on a channel; the message gets the channel's next id. */
  publish(channel: string, event: string, data: unknown): unknown;
  /** The channel's latest id. */
  last(channel: string): number;
  /** Handles an event sent by any client; throwing the push layer's EventRefused refuses it. */
  on(event: string, handler: (data: unknown, client: unknown) => void): unknown;
}
