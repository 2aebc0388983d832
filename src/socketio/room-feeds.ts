import type { Subscriber } from '../push/channel-log.js';
import type { PushMessage } from '../push/message.js';
import type { ChannelAdapter } from './channel-adapter.js';
import { eventPackets } from './event-packets.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import { formatOffset, fromLogMessage, type LoggedEvent } from './room-channels.js';

/** What the feeds need of a socket. */
export interface FeedMember {
  readonly rooms: ReadonlySet<string>;
  /** @internal the group it is in; kept by RoomFeeds. */
  group: CursorGroup | null;
  sendPackets(packets: readonly OutgoingPacket[]): void;
}

/** Whether a socket gets a logged event that reached it through `room`. */
export function accepts(member: FeedMember, event: LoggedEvent, room: string | null): boolean {
  if (event.except !== null) {
    for (const r of event.except) if (member.rooms.has(r)) return false;
  }
  if (event.rooms !== null && room !== null) {
    // Sent to several rooms: a socket in more than one of them takes it from the first.
    for (const r of event.rooms) if (member.rooms.has(r)) return r === room;
    return false;
  }
  return true;
}

/**
 * Sockets of a namespace that follow the same channels. They have seen the
 * same messages, so they share their cursors, their offset, and the frames
 * of every event: one encoding per group, not per socket.
 */
export class CursorGroup {
  readonly members = new Set<FeedMember>();
  private offsetText: string | null = null;

  constructor(readonly key: string, readonly channels: readonly string[], readonly cursors: Map<string, number>) {}

  /** `NAME@N,…`: where every member stands (the last argument of each event it gets). */
  get offset(): string {
    return (this.offsetText ??= formatOffset(this.cursors));
  }

  advance(channel: string, id: number): void {
    this.cursors.set(channel, id);
    this.offsetText = null;
  }
}

/** One logged room of a namespace, following its channel in the log. */
class ChannelFeed implements Subscriber {
  readonly groups = new Set<CursorGroup>();

  constructor(private readonly feeds: RoomFeeds, readonly channel: string, readonly room: string) {}

  deliver(message: PushMessage): void {
    this.feeds.deliver(this, message);
  }
}

/**
 * The logged rooms of one namespace: a subscriber per channel, and the groups
 * of sockets by the channels they follow (docs/PROTOCOL.md §5.4).
 */
export class RoomFeeds {
  private readonly feeds = new Map<string, ChannelFeed>();
  private readonly groups = new Map<string, CursorGroup>();

  constructor(
    private readonly namespace: string,
    private readonly log: ChannelAdapter,
    /** Whether events carry an offset (connection state recovery). */
    private readonly withOffsets: boolean,
  ) {}

  /**
   * Puts a socket in the group of these channels (room by channel). A channel
   * the socket did not follow yet starts at `starts` or the channel's last id.
   */
  place(member: FeedMember, rooms: ReadonlyMap<string, string>, starts?: ReadonlyMap<string, number>): void {
    const channels = [...rooms.keys()].sort();
    const key = channels.join(',');
    const old = member.group;
    if (old !== null && old.key === key) return;
    let group = this.groups.get(key);
    if (group === undefined) {
      const cursors = new Map<string, number>();
      for (const channel of channels) {
        cursors.set(channel, old?.cursors.get(channel) ?? starts?.get(channel) ?? this.log.last(channel));
      }
      group = new CursorGroup(key, channels, cursors);
      this.groups.set(key, group);
      for (const channel of channels) this.feed(channel, rooms.get(channel)!).groups.add(group);
    }
    if (old !== null) this.leaveGroup(member, old);
    group.members.add(member);
    member.group = group;
  }

  remove(member: FeedMember): void {
    if (member.group !== null) this.leaveGroup(member, member.group);
    member.group = null;
  }

  private leaveGroup(member: FeedMember, group: CursorGroup): void {
    group.members.delete(member);
    if (group.members.size > 0) return;
    this.groups.delete(group.key);
    for (const channel of group.channels) {
      const feed = this.feeds.get(channel);
      if (feed === undefined) continue;
      feed.groups.delete(group);
      if (feed.groups.size === 0) {
        this.feeds.delete(channel);
        this.log.unfollow(channel, feed);
      }
    }
  }

  private feed(channel: string, room: string): ChannelFeed {
    let feed = this.feeds.get(channel);
    if (feed === undefined) {
      feed = new ChannelFeed(this, channel, room);
      this.feeds.set(channel, feed);
      this.log.follow(channel, feed);
    }
    return feed;
  }

  /** A message of a followed channel: framed once per group, written to each member it is for. */
  deliver(feed: ChannelFeed, message: PushMessage): void {
    for (const group of feed.groups) group.advance(feed.channel, message.id);
    const event = fromLogMessage(message);
    if (event === null) return;
    let packets: OutgoingPacket[] | null = null;
    for (const group of feed.groups) {
      if (this.withOffsets || packets === null) packets = eventPackets(this.namespace, event, this.withOffsets ? group.offset : null, true);
      for (const member of group.members) {
        if (accepts(member, event, feed.room)) member.sendPackets(packets);
      }
    }
  }

  /** Unfollows every channel (the server closes). */
  close(): void {
    for (const feed of this.feeds.values()) this.log.unfollow(feed.channel, feed);
    this.feeds.clear();
    this.groups.clear();
  }
}
