import { beforeEach, describe, expect, it } from "vitest";

import { RECONNECT_MAX_DELAY_MS } from "./backoff";
import { ConnectionState, FarmStreamClient, type FarmMessage, HEARTBEAT_GRACE_INTERVALS, type StatsEvent } from "./client";
import { ALL_TOPICS, CloseCode, Mode, Topic } from "./messages";
import { FakeEnvironment, type FakeSocket, WELCOME, handshake } from "./testing";

const SNAPSHOT = {
  seq: 100,
  devices: [],
  sensors: [{ id: 7, device: 2, name: "temperature", unit: "°C", min: -20, max: 60, value: 21, ts: 1, seq: 99 }],
};

function subscribedWithSnapshot(socket: FakeSocket, farm = 1, seq = 100): void {
  const sub = socket.sentOfType("subscribe").filter((m) => m.farm === farm).pop()!;
  socket.receive({
    type: "subscribed",
    id: sub.id,
    farm,
    epoch: "ep",
    seq,
    topics: ["commands", "device_status", "events", "readings"],
    mode: "all",
    snapshot: { ...SNAPSHOT, seq },
  });
}

function batch(farm: number, ...seqs: number[]): unknown {
  return { type: "batch", farm, t0: 1_000, r: seqs.map((s) => [s, 7, s, 0, 0]), sent: 1_001 };
}

describe("FarmStreamClient", () => {
  let env: FakeEnvironment;
  let client: FarmStreamClient;
  let messages: FarmMessage[];
  let authFailures: string[];

  beforeEach(() => {
    env = new FakeEnvironment();
    // random 0.5: every backoff delay is half its ceiling, so tests know it.
    client = new FarmStreamClient({ url: "ws://bridge/ws", env, backoff: { baseDelayMs: 1_000, maxDelayMs: 8_000, random: () => 0.5 } });
    messages = [];
    authFailures = [];
    client.onMessage((m) => messages.push(m));
    client.onAuthFailure((r) => authFailures.push(r));
  });

  function seqsHandedOn(): number[] {
    return messages.flatMap((m) => (m.type === "changes" ? m.changes.map((c) => c.seq) : []));
  }

  it("authenticates after welcome and subscribes each farm once it is authenticated", () => {
    client.subscribe(1);
    client.setToken("tok");
    expect(client.getStatus().state).toBe(ConnectionState.Connecting);
    const socket = env.lastSocket;
    socket.open();
    expect(socket.sent).toEqual([]);
    socket.receive(WELCOME);
    expect(socket.sent[0]).toEqual({ type: "auth", token: "tok", id: 1, protocol: 2 });
    expect(socket.sentOfType("subscribe")).toEqual([]);
    socket.receive({ type: "authenticated", id: 1, user: "alice", expires_at: 1 });
    expect(client.getStatus()).toMatchObject({ state: ConnectionState.Connected, user: "alice" });
    expect(socket.sentOfType("subscribe")).toEqual([{ type: "subscribe", id: 2, farm: 1, mode: "all" }]);
  });

  it("sends a refreshed token on the open socket without reconnecting or resubscribing", () => {
    client.subscribe(1);
    client.setToken("display-1");
    const socket = handshake(env, "display:wall");
    subscribedWithSnapshot(socket);
    const subscribes = socket.sentOfType("subscribe").length;
    client.reauthenticate("display-2");
    const auth = socket.sentOfType("auth").pop();
    expect(auth).toMatchObject({ type: "auth", token: "display-2" });
    socket.receive({ type: "authenticated", id: auth?.id, user: "display:wall", expires_at: 2 });
    expect(env.sockets).toHaveLength(1);
    expect(socket.sentOfType("subscribe")).toHaveLength(subscribes);
    expect(client.getStatus().state).toBe(ConnectionState.Connected);
    expect(client.reconnects).toBe(0);
  });

  it("starts with a refreshed token after the socket was refused", () => {
    client.subscribe(1);
    client.setToken("display-1");
    const socket = handshake(env, "display:wall");
    socket.serverClose(CloseCode.Unauthenticated, "revoked");
    expect(authFailures).toEqual(["not authenticated"]);
    client.reauthenticate("display-2");
    const next = env.lastSocket;
    expect(next).not.toBe(socket);
    next.open();
    next.receive(WELCOME);
    expect(next.sentOfType("auth")[0]).toMatchObject({ token: "display-2" });
  });

  it("asks for protocol 2 and the alarms topic, and hands on alarm changes sharing their cause's seq", () => {
    const withTopics = new FarmStreamClient({ url: "ws://bridge/ws", env, topics: [...ALL_TOPICS] });
    const seen: FarmMessage[] = [];
    withTopics.onMessage((m) => seen.push(m));
    withTopics.subscribe(1);
    withTopics.setToken("tok");
    const socket = handshake(env);
    expect(socket.sentOfType("subscribe")[0]?.topics).toContain(Topic.Alarms);
    socket.receive({ type: "subscribed", id: 2, farm: 1, epoch: "e", seq: 10, topics: ALL_TOPICS, mode: "all", snapshot: { seq: 10, devices: [], sensors: [], alarms: [] } });
    const alarm = { id: 5, farm: 1, seq: 11, rule: 2, device: null, sensor: 7, kind: "above", code: "hot", severity: "critical", message: "hot", value: 40, state: "active", raised_at: 1, cleared_at: null, ack: null };
    socket.receive({ type: "batch", farm: 1, t0: 0, r: [[11, 7, 40, 0, 0]], a: [alarm] });
    const changes = seen.flatMap((m) => (m.type === "changes" ? m.changes : []));
    expect(changes.map((c) => c.kind)).toEqual(["reading", "alarm"]);
  });

  it("speaks protocol 1 to a server that serves no newer one, without the alarms topic", () => {
    const withTopics = new FarmStreamClient({ url: "ws://bridge/ws", env, topics: [...ALL_TOPICS] });
    withTopics.subscribe(1);
    withTopics.setToken("tok");
    const socket = env.lastSocket;
    socket.open();
    socket.receive({ ...WELCOME, protocol: 1 });
    expect(socket.sent[0]).toMatchObject({ type: "auth", protocol: 1 });
    socket.receive({ type: "authenticated", id: 1, user: "alice", expires_at: 1 });
    const topics = (socket.sentOfType("subscribe")[0] as { topics: string[] }).topics;
    expect(topics).not.toContain(Topic.Alarms);
    expect(topics).toContain(Topic.Readings);
  });

  it("shares one server subscription between watchers and unsubscribes after the last", () => {
    client.setToken("tok");
    const socket = handshake(env);
    const a = client.subscribe(1);
    const b = client.subscribe(1);
    expect(socket.sentOfType("subscribe")).toHaveLength(1);
    a();
    a();
    expect(socket.sentOfType("unsubscribe")).toHaveLength(0);
    b();
    expect(socket.sentOfType("unsubscribe")).toEqual([{ type: "unsubscribe", farm: 1, id: 3 }]);
  });

  it("watches the live figures once authenticated, again after a reconnect, and stops after the last watcher", () => {
    const events: StatsEvent[] = [];
    const release = client.watchStats((e) => events.push(e));
    client.setToken("tok");
    let socket = handshake(env);
    expect(socket.sentOfType("subscribe_stats")).toEqual([{ type: "subscribe_stats", id: 2 }]);
    const window = { type: "stats", id: 2, instance: "h:1", slot_s: 10, window_s: 300, connections: 2, farms: {}, slots: [] };
    socket.receive(window);
    socket.receive({ ...window, id: null, connections: 3 });
    expect(events.map((e) => (e.type === "stats" ? e.message.connections : e.code))).toEqual([2, 3]);
    socket.serverClose(1012);
    env.advance(RECONNECT_MAX_DELAY_MS);
    socket = handshake(env);
    expect(socket.sentOfType("subscribe_stats")).toHaveLength(1);
    release();
    expect(socket.sentOfType("unsubscribe_stats")).toHaveLength(1);
    socket.receive({ ...window, id: null });
    expect(events).toHaveLength(2);
  });

  it("tells a live-figures watcher that the server refused them, and leaves the farms alone", () => {
    const events: StatsEvent[] = [];
    client.subscribe(1);
    client.watchStats((e) => events.push(e));
    client.setToken("tok");
    const socket = handshake(env);
    const ask = socket.sentOfType("subscribe_stats").at(-1);
    socket.receive({ type: "error", code: "forbidden", message: "administrator role needed", id: ask?.id });
    expect(events).toEqual([{ type: "refused", code: "forbidden" }]);
    expect(client.subscriptions.has(1)).toBe(true);
  });

  it("answers the server's ping with pong", () => {
    client.setToken("tok");
    const socket = handshake(env);
    socket.receive({ type: "ping", t: 5 });
    expect(socket.sent.at(-1)).toEqual({ type: "pong" });
  });

  it("resumes with since after a drop and hands on each change exactly once", () => {
    client.subscribe(1);
    client.setToken("tok");
    let socket = handshake(env);
    subscribedWithSnapshot(socket);
    socket.receive(batch(1, 101, 102));
    socket.serverClose(CloseCode.Abnormal);
    expect(client.getStatus().state).toBe(ConnectionState.Reconnecting);
    env.advance(500); // first delay: 0.5 * 1000
    socket = handshake(env);
    const resume = socket.sentOfType("subscribe").at(-1)!;
    expect(resume).toMatchObject({ farm: 1, since: 102, epoch: "ep" });
    socket.receive({ type: "subscribed", id: resume.id, farm: 1, epoch: "ep", seq: 104, topics: [], mode: "all", resume: { from: 103, to: 104 } });
    // The replay overlaps what came before the drop; a batch may also hold both at once.
    socket.receive([batch(1, 101, 102, 103), batch(1, 103, 104)]);
    socket.receive(batch(1, 105));
    expect(seqsHandedOn()).toEqual([101, 102, 103, 104, 105]);
    expect(client.subscriptions.duplicatesDropped).toBe(3);
    expect(client.reconnects).toBe(1);
  });

  it("backs off exponentially with full jitter, capped, and counts attempts", () => {
    client.setToken("tok");
    const delays: number[] = [];
    for (let k = 0; k < 6; k++) {
      env.lastSocket.serverClose(CloseCode.Abnormal);
      const status = client.getStatus();
      expect(status.state).toBe(ConnectionState.Reconnecting);
      expect(status.attempt).toBe(k + 1);
      delays.push(status.nextRetryAtMs! - env.nowMs);
      const before = env.sockets.length;
      env.advance(status.nextRetryAtMs! - env.nowMs - 1);
      expect(env.sockets.length).toBe(before);
      env.advance(1);
      expect(env.sockets.length).toBe(before + 1);
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    handshake(env);
    expect(client.getStatus()).toMatchObject({ state: ConnectionState.Connected, attempt: 0 });
  });

  it("keeps every delay under the default cap", () => {
    const c = new FarmStreamClient({ url: "ws://x/ws", env, backoff: { random: () => 0.9999 } });
    c.setToken("tok");
    for (let k = 0; k < 20; k++) {
      env.lastSocket.serverClose(CloseCode.Abnormal);
      const wait = c.getStatus().nextRetryAtMs! - env.nowMs;
      expect(wait).toBeLessThan(RECONNECT_MAX_DELAY_MS);
      env.advance(wait);
    }
  });

  it("reconnects at once on 1012 and resets the backoff", () => {
    client.subscribe(1);
    client.setToken("tok");
    env.lastSocket.serverClose(CloseCode.Abnormal);
    env.advance(500);
    env.lastSocket.serverClose(CloseCode.Abnormal);
    env.advance(1_000);
    const socket = handshake(env);
    subscribedWithSnapshot(socket);
    socket.serverClose(CloseCode.ServiceRestart, "server restart");
    const wait = client.getStatus().nextRetryAtMs! - env.nowMs;
    expect(wait).toBeLessThanOrEqual(100);
    env.advance(wait);
    expect(env.sockets).toHaveLength(4);
    expect(client.getStatus().attempt).toBe(0);
  });

  it("waits out a 1013's retry_after_ms plus jitter", () => {
    client.setToken("tok");
    env.lastSocket.serverClose(CloseCode.TryAgainLater, "retry_after_ms=3000");
    expect(client.getStatus().nextRetryAtMs! - env.nowMs).toBe(3_500);
  });

  it("goes to the login page on 4001 and 4003, and stops", () => {
    client.setToken("tok");
    handshake(env).serverClose(CloseCode.TokenExpired, "token expired");
    expect(authFailures).toEqual(["session expired"]);
    expect(client.getStatus().state).toBe(ConnectionState.Closed);
    env.advance(60_000);
    expect(env.sockets).toHaveLength(1);
    client.setToken("tok2");
    env.lastSocket.serverClose(CloseCode.Unauthenticated);
    expect(authFailures).toEqual(["session expired", "not authenticated"]);
  });

  it("stops on 1000 and on the codes that say the client is at fault", () => {
    client.setToken("tok");
    handshake(env).serverClose(CloseCode.Abuse, "too many invalid messages");
    expect(client.getStatus().state).toBe(ConnectionState.Closed);
    env.advance(120_000);
    expect(env.sockets).toHaveLength(1);
    client.reconnectNow();
    expect(env.sockets).toHaveLength(2);
  });

  it("goes offline on the browser's offline event and reconnects at once when back online", () => {
    client.subscribe(1);
    client.setToken("tok");
    const socket = handshake(env);
    subscribedWithSnapshot(socket);
    env.online = false;
    env.fire("offline");
    expect(socket.closedWith?.code).toBe(CloseCode.GoingAway);
    expect(client.getStatus()).toMatchObject({ state: ConnectionState.Offline, offlineCause: "browser" });
    env.advance(120_000);
    expect(env.sockets).toHaveLength(1); // no attempts while offline
    env.online = true;
    env.fire("online");
    expect(env.sockets).toHaveLength(2);
    const next = handshake(env);
    expect(next.sentOfType("subscribe").at(-1)).toMatchObject({ since: 100 });
  });

  it("takes a server silent for two heartbeats as gone, and says offline", () => {
    client.setToken("tok");
    const socket = handshake(env);
    env.advance(15_000 * HEARTBEAT_GRACE_INTERVALS - 1);
    expect(client.getStatus().state).toBe(ConnectionState.Connected);
    socket.receive({ type: "ping", t: 1 }); // any message counts as a sign of life
    env.advance(15_000 * HEARTBEAT_GRACE_INTERVALS - 1);
    expect(client.getStatus().state).toBe(ConnectionState.Connected);
    env.advance(1);
    expect(socket.closedWith?.code).toBe(CloseCode.GoingAway);
    expect(client.getStatus()).toMatchObject({ state: ConnectionState.Offline, offlineCause: "heartbeat" });
    env.advance(500);
    expect(env.sockets).toHaveLength(2);
    expect(client.getStatus().state).toBe(ConnectionState.Reconnecting);
  });

  it("retries at once when the tab becomes visible again", () => {
    client.setToken("tok");
    env.lastSocket.serverClose(CloseCode.Abnormal);
    env.lastSocket.serverClose(CloseCode.Abnormal); // no-op: already detached
    env.visible = false;
    env.fire("visibilitychange");
    expect(env.sockets).toHaveLength(1);
    env.visible = true;
    env.fire("visibilitychange");
    expect(env.sockets).toHaveLength(2);
    env.advance(5_000); // the old timer (500 ms) was cancelled: no second socket from it
    expect(env.sockets).toHaveLength(2);
  });

  it("resubscribes without since on resync_required and hands on the new snapshot", () => {
    client.subscribe(1);
    client.setToken("tok");
    const socket = handshake(env);
    subscribedWithSnapshot(socket);
    socket.receive({ type: "resync_required", farm: 1, reason: "too_far_behind", seq: 5000, epoch: "ep" });
    const again = socket.sentOfType("subscribe").at(-1)!;
    expect(again.since).toBeUndefined();
    socket.receive(batch(1, 4000)); // nothing is handed on until the fresh snapshot
    subscribedWithSnapshot(socket, 1, 5000);
    socket.receive(batch(1, 5001));
    expect(messages.map((m) => m.type)).toEqual(["snapshot", "resync", "snapshot", "changes"]);
    expect(seqsHandedOn()).toEqual([5001]);
  });

  it("ignores a reply to a superseded subscribe", () => {
    client.subscribe(1);
    client.setToken("tok");
    const socket = handshake(env);
    const first = socket.sentOfType("subscribe")[0]!;
    socket.receive({ type: "resync_required", farm: 1, reason: "slow_consumer", seq: 1, epoch: "ep" });
    socket.receive({ type: "subscribed", id: first.id, farm: 1, epoch: "ep", seq: 1, topics: [], mode: "all", snapshot: SNAPSHOT });
    expect(messages.filter((m) => m.type === "snapshot")).toHaveLength(0);
  });

  it("drops a farm deleted while subscribed and tells the store, never resubscribing", () => {
    client.subscribe(2);
    client.setToken("tok");
    const socket = handshake(env);
    const sub = socket.sentOfType("subscribe")[0]!;
    socket.receive({ type: "subscribed", id: sub.id, farm: 2, epoch: "ep", seq: 1, topics: [], mode: "all", snapshot: SNAPSHOT });
    socket.receive({ type: "unsubscribed", id: null, farm: 2, reason: "farm_deleted" });
    expect(client.subscriptions.has(2)).toBe(false);
    expect(messages.filter((m) => m.type === "ended")).toEqual([{ type: "ended", farm: 2, reason: "farm_deleted" }]);
    expect(socket.sentOfType("subscribe")).toHaveLength(1);
  });

  it("drops a farm the server refuses and tells the store", () => {
    client.subscribe(2);
    client.setToken("tok");
    const socket = handshake(env);
    const sub = socket.sentOfType("subscribe")[0]!;
    socket.receive({ type: "error", code: "forbidden", message: "no access to farm 2", id: sub.id });
    expect(client.subscriptions.has(2)).toBe(false);
    expect(messages).toEqual([{ type: "ended", farm: 2, reason: "forbidden" }]);
  });

  it("asks again for a subscription the server was too busy for", () => {
    client.subscribe(1);
    client.setToken("tok");
    const socket = handshake(env);
    const sub = socket.sentOfType("subscribe")[0]!;
    socket.receive({ type: "error", code: "overloaded", message: "busy", id: sub.id, retry_after_ms: 1000 });
    env.advance(1_049);
    expect(socket.sentOfType("subscribe")).toHaveLength(1);
    env.advance(2);
    expect(socket.sentOfType("subscribe")).toHaveLength(2);
  });

  it("switches to latest mode after a 4009", () => {
    client.subscribe(1);
    client.setToken("tok");
    handshake(env).serverClose(CloseCode.SlowConsumer);
    env.advance(500);
    const socket = handshake(env);
    expect(socket.sentOfType("subscribe").at(-1)?.mode).toBe(Mode.Latest);
  });

  it("gives up an attempt that does not complete the handshake in time", () => {
    client.setToken("tok");
    env.lastSocket.open(); // no welcome ever comes
    env.advance(10_000);
    expect(env.lastSocket.closedWith).not.toBeNull();
    expect(client.getStatus().state).toBe(ConnectionState.Reconnecting);
  });

  it("stops cleanly: closes with 1000 and leaves no timer behind", () => {
    client.setToken("tok");
    const socket = handshake(env);
    client.stop();
    expect(socket.closedWith?.code).toBe(CloseCode.Normal);
    expect(env.pendingTimers()).toBe(0);
    env.fire("online");
    expect(env.sockets).toHaveLength(1);
  });
});
