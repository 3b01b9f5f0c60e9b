/**
 * The farms a tab watches and where it stands in each (pure, no I/O).
 *
 * Each farm remembers the last seq handed on and its history epoch, so a new connection
 * resumes with `since` and a change that arrives twice (once before a drop, once in the
 * replay) is handed on once. Farms are reference-counted: any number of components may
 * watch one farm over the one server subscription.
 */

import { type Change, Mode, type SubscribeMessage, type Topic } from "./messages";

export interface FarmPosition {
  /** Components watching the farm. */
  refs: number;
  /** The seq of the last snapshot or change handed on; null before the first snapshot. */
  lastSeq: number | null;
  epoch: string | null;
  /** The next subscribe asks for a snapshot (first time, or after `resync_required`). */
  needsSnapshot: boolean;
  /** The id of the latest subscribe sent on this connection; replies to older ones are stale. */
  requestId: number | null;
}

export class Subscriptions {
  private readonly farms = new Map<number, FarmPosition>();
  /** Changes dropped because their seq was not above the farm's last seq. */
  duplicatesDropped = 0;
  topics: Topic[] | undefined;
  mode: Mode;

  constructor({ topics, mode = Mode.All }: { topics?: Topic[]; mode?: Mode } = {}) {
    this.topics = topics;
    this.mode = mode;
  }

  has(farm: number): boolean {
    return this.farms.has(farm);
  }

  get(farm: number): FarmPosition | undefined {
    return this.farms.get(farm);
  }

  /** The farms watched, in the order first watched. */
  list(): number[] {
    return [...this.farms.keys()];
  }

  /** One more watcher of `farm`; true when it is new (a subscribe must be sent). */
  add(farm: number): boolean {
    const existing = this.farms.get(farm);
    if (existing) {
      existing.refs += 1;
      return false;
    }
    this.farms.set(farm, { refs: 1, lastSeq: null, epoch: null, needsSnapshot: true, requestId: null });
    return true;
  }

  /** One watcher fewer; true when it was the last (an unsubscribe must be sent). */
  release(farm: number): boolean {
    const pos = this.farms.get(farm);
    if (!pos) return false;
    pos.refs -= 1;
    if (pos.refs > 0) return false;
    this.farms.delete(farm);
    return true;
  }

  /** Forgets a farm whatever its watchers (the server refused or ended it for good). */
  drop(farm: number): void {
    this.farms.delete(farm);
  }

  /** The `subscribe` message for a farm: resuming from its position when it has one. */
  request(farm: number, id: number): SubscribeMessage {
    const pos = this.farms.get(farm);
    if (!pos) throw new Error(`farm ${farm} is not watched`);
    pos.requestId = id;
    const msg: SubscribeMessage = { type: "subscribe", id, farm, mode: this.mode };
    if (this.topics) msg.topics = this.topics;
    if (!pos.needsSnapshot && pos.lastSeq !== null) {
      msg.since = pos.lastSeq;
      if (pos.epoch) msg.epoch = pos.epoch;
    }
    return msg;
  }

  /** True when a `subscribed` with this id answers the farm's latest subscribe. */
  isCurrent(farm: number, id: number | null | undefined): boolean {
    const pos = this.farms.get(farm);
    if (!pos) return false;
    return id === undefined || id === null || pos.requestId === null || id === pos.requestId;
  }

  /** The server confirmed a subscription; with a snapshot the position starts at its seq. */
  subscribed(farm: number, epoch: string, snapshotSeq: number | null): void {
    const pos = this.farms.get(farm);
    if (!pos) return;
    pos.epoch = epoch;
    if (snapshotSeq !== null) {
      pos.lastSeq = snapshotSeq;
      pos.needsSnapshot = false;
    }
  }

  /** The server ended the farm's subscription: the next subscribe asks for a snapshot. */
  resync(farm: number): void {
    const pos = this.farms.get(farm);
    if (pos) pos.needsSnapshot = true;
  }

  /**
   * The changes of a batch that are new, in seq order; moves the farm's position past them.
   * Changes of a farm not watched, or waiting for its snapshot, are dropped.
   */
  consume(farm: number, changes: readonly Change[]): Change[] {
    const pos = this.farms.get(farm);
    if (!pos || pos.needsSnapshot || pos.lastSeq === null) return [];
    const fresh: Change[] = [];
    for (const change of changes) {
      // An alarm change may share the seq of the reading or event that caused it (one
      // transaction), so only an older seq is a duplicate for it; the alarm's own seq guards it.
      if (change.seq < pos.lastSeq || (change.seq === pos.lastSeq && change.kind !== "alarm")) {
        this.duplicatesDropped += 1;
        continue;
      }
      pos.lastSeq = change.seq;
      fresh.push(change);
    }
    return fresh;
  }
}
