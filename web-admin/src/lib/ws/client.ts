/**
 * FarmStreamClient: farms' live streams over one WebSocket, reconnecting and resuming by itself.
 *
 * A plain class (no React): `useWebSocket.ts` is a thin hook over the one instance a tab
 * shares. It opens the socket, authenticates, (re)subscribes every watched farm, resuming
 * with `since`, answers the server's heartbeat, and when the socket ends picks the next
 * step from the close code: reconnect at once (1012, 4002, the browser back online or the
 * tab visible again), after a backoff with full jitter (most codes), after the server's
 * `retry_after_ms` (1013), go to the login page (4001, 4003), or stop (1000, 1009, 4029).
 *
 * Everything it touches outside itself (sockets, timers, clock, random, the browser's
 * online and visibility events) comes through `ClientEnvironment`, so tests drive it with
 * fakes and a fake clock.
 */

import { Backoff, type BackoffOptions } from "./backoff";
import {
  type Change,
  CloseCode,
  type ClientMessage,
  ErrorCode,
  type ErrorMessage,
  MalformedMessageError,
  Mode,
  ALARMS_PROTOCOL,
  PROTOCOL_VERSION,
  type ResyncReason,
  type ServerMessage,
  type Snapshot,
  type StatsMessage,
  Topic,
  UnsubscribeReason,
  batchChanges,
  decodeFrame,
  retryAfterMsFromReason,
} from "./messages";
import { Subscriptions } from "./subscriptions";

/** A server silent for this many heartbeat intervals is taken for gone. */
export const HEARTBEAT_GRACE_INTERVALS = 2;
/** Used until `welcome` says otherwise. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** From opening the socket to `authenticated`; past it the attempt counts as failed. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The socket's own state, as `WebSocket.readyState` numbers it. */
export enum ReadyState {
  Connecting = 0,
  Open = 1,
  Closing = 2,
  Closed = 3,
}

/** What the tab's connection is doing, for the indicator. */
export enum ConnectionState {
  /** Not started (no token yet). */
  Idle = "idle",
  /** The first connection is being opened and authenticated. */
  Connecting = "connecting",
  /** Open and authenticated: subscriptions are live. */
  Connected = "connected",
  /** Lost: waiting out a backoff delay, or retrying. */
  Reconnecting = "reconnecting",
  /** The browser is offline, or the server fell silent: waiting for the network. */
  Offline = "offline",
  /** For good, until `reconnectNow` or a new token: closed normally, refused, or by a client fault. */
  Closed = "closed",
}

/** True while the stream is live: data on screen is current. */
export function isLive(status: ConnectionStatus): boolean {
  return status.state === ConnectionState.Connected;
}

export type OfflineCause = "browser" | "heartbeat";

export interface ConnectionStatus {
  state: ConnectionState;
  /** Failed attempts in a row; the indicator shows the next try as attempt `attempt`. */
  attempt: number;
  /** When the next try starts (epoch ms), while waiting; else null. */
  nextRetryAtMs: number | null;
  /** The wait that ends at `nextRetryAtMs`, in ms (for a countdown that starts right). */
  retryDelayMs: number | null;
  lastClose: { code: number; reason: string } | null;
  offlineCause: OfflineCause | null;
  /** A line for people: why the state is what it is. */
  detail: string;
  user: string | null;
  /** The server's connection id, from `welcome`. */
  connectionId: string | null;
  /** When the current connection was authenticated (epoch ms). */
  connectedSinceMs: number | null;
}

/** What the client hands on, per farm, in seq order. */
export type FarmMessage =
  | { type: "snapshot"; farm: number; epoch: string; snapshot: Snapshot; receivedAtMs: number }
  | { type: "resumed"; farm: number; epoch: string; from: number; to: number }
  | { type: "changes"; farm: number; changes: Change[]; sentMs: number | null; receivedAtMs: number }
  | { type: "resync"; farm: number; reason: ResyncReason }
  | { type: "ended"; farm: number; reason: string };

/** What a live-figures watcher hears: each `stats` message, or that the server refused them. */
export type StatsEvent = { type: "stats"; message: StatsMessage } | { type: "refused"; code: string };

/** What the client needs of a WebSocket; the browser's fits. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type BrowserEvent = "online" | "offline" | "visibilitychange";

export interface ClientEnvironment {
  createSocket(url: string): SocketLike;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Epoch ms. */
  now(): number;
  isOnline(): boolean;
  isVisible(): boolean;
  /** Listens to a browser event; returns the function that stops listening. */
  listen(event: BrowserEvent, fn: () => void): () => void;
}

/** The browser's sockets, timers, clock and events. */
export function browserEnvironment(): ClientEnvironment {
  return {
    createSocket: (url) => new WebSocket(url),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (handle) => window.clearTimeout(handle as number),
    now: () => Date.now(),
    isOnline: () => navigator.onLine,
    isVisible: () => document.visibilityState !== "hidden",
    listen: (event, fn) => {
      const target: EventTarget = event === "visibilitychange" ? document : window;
      target.addEventListener(event, fn);
      return () => target.removeEventListener(event, fn);
    },
  };
}

/**
 * The version to ask for in `auth`: ours, or the server's newest when that is older (a
 * v1 server answers an unknown version with `invalid_message`; its alarms then stay empty).
 */
export function negotiatedProtocol(serverNewest: unknown): number {
  return typeof serverNewest === "number" && Number.isInteger(serverNewest) && serverNewest >= 1
    ? Math.min(serverNewest, PROTOCOL_VERSION)
    : PROTOCOL_VERSION;
}

/** The /ws URL of the bridge that served the page. */
export function defaultStreamUrl(location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export interface ClientOptions {
  /** The bridge's `ws://HOST:PORT/ws`. */
  url: string;
  env?: ClientEnvironment;
  backoff?: BackoffOptions;
  /** The topics of every subscription; all four when absent. */
  topics?: Topic[];
  mode?: Mode;
}

type Listener<T> = (value: T) => void;

interface Session {
  socket: SocketLike;
  nextId: number;
  authenticated: boolean;
  heartbeatMs: number;
  silenceTimer: unknown;
  /** An `overloaded` error's wait, for the reconnect that follows. */
  retryAfterMs: number | null;
  /** The protocol version asked for in `auth` (from the server's `welcome`). */
  protocol: number;
  /** The id of this socket's `subscribe_stats`, while one was sent. */
  statsRequestId: number | null;
  /** Set when this client closed the socket on purpose; the close handler then does nothing more. */
  closedByClient: "stop" | "offline" | "silent" | "handshake" | "restart" | null;
}

export class FarmStreamClient {
  private readonly url: string;
  private readonly env: ClientEnvironment;
  private readonly backoff: Backoff;
  readonly subscriptions: Subscriptions;
  private token: string | null = null;
  private running = false;
  private session: Session | null = null;
  private retryTimer: unknown = null;
  private readonly unlisten: Array<() => void> = [];
  private readonly pendingRetries = new Set<unknown>();
  private status: ConnectionStatus = {
    state: ConnectionState.Idle,
    attempt: 0,
    nextRetryAtMs: null,
    retryDelayMs: null,
    lastClose: null,
    offlineCause: null,
    detail: "",
    user: null,
    connectionId: null,
    connectedSinceMs: null,
  };
  private everConnected = false;
  private readonly statusListeners = new Set<Listener<ConnectionStatus>>();
  private readonly messageListeners = new Set<Listener<FarmMessage>>();
  private readonly authFailureListeners = new Set<Listener<string>>();
  private readonly statsListeners = new Set<Listener<StatsEvent>>();
  /** Frames received, for diagnostics. */
  frames = 0;
  /** Authenticated connections after the first one. */
  reconnects = 0;

  constructor({ url, env = browserEnvironment(), backoff, topics, mode = Mode.All }: ClientOptions) {
    this.url = url;
    this.env = env;
    this.backoff = new Backoff(backoff);
    this.subscriptions = new Subscriptions({ topics, mode });
  }

  // ---- public API --------------------------------------------------------------------

  getStatus(): ConnectionStatus {
    return this.status;
  }

  onStatus(listener: Listener<ConnectionStatus>): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  onMessage(listener: Listener<FarmMessage>): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Called with a reason when the server refuses the token (4001, 4003, `unauthenticated`). */
  onAuthFailure(listener: Listener<string>): () => void {
    this.authFailureListeners.add(listener);
    return () => this.authFailureListeners.delete(listener);
  }

  /** Connects with `token`, or reconnects with a new one; null stops. */
  setToken(token: string | null): void {
    if (token === this.token && this.running) return;
    this.token = token;
    if (token === null) {
      this.stop();
      return;
    }
    if (this.running) {
      this.closeSession("restart", CloseCode.GoingAway, "new token");
      this.backoff.reset();
      this.connect();
    } else {
      this.start();
    }
  }

  /**
   * A fresh token of the same identity (a wall screen's refreshed display token): sent on
   * the open socket as `auth`, with no reconnect and nothing resubscribed; used for the
   * next connection otherwise.
   */
  reauthenticate(token: string): void {
    this.token = token;
    const session = this.session;
    if (session?.authenticated) {
      this.send(session, { type: "auth", token, id: session.nextId++, protocol: session.protocol });
    } else if (!this.running) {
      this.start();
    }
  }

  /** Watches a farm; returns the function that stops watching it. */
  subscribe(farm: number): () => void {
    if (this.subscriptions.add(farm)) this.sendSubscribe(farm);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (this.subscriptions.release(farm)) {
        this.sendIfAuthenticated({ type: "unsubscribe", farm });
      }
    };
  }

  /**
   * Watches the instance's live figures (global admins): the listener gets the whole window
   * on each (re)connection, then a message per slot. Returns the function that stops it.
   */
  watchStats(listener: Listener<StatsEvent>): () => void {
    this.statsListeners.add(listener);
    if (this.statsListeners.size === 1) this.sendSubscribeStats();
    return () => {
      if (!this.statsListeners.delete(listener) || this.statsListeners.size) return;
      const session = this.session;
      if (session?.statsRequestId != null) {
        session.statsRequestId = null;
        this.sendIfAuthenticated({ type: "unsubscribe_stats" });
      }
    };
  }

  /** Asks the server for a fresh snapshot of a watched farm (after adding a device, say). */
  refreshSnapshot(farm: number): void {
    if (!this.subscriptions.has(farm)) return;
    this.subscriptions.resync(farm);
    this.sendSubscribe(farm);
  }

  /** Tries now, whatever the backoff says (the indicator's "retry now"). */
  reconnectNow(): void {
    if (!this.running && this.token !== null) {
      this.start();
      return;
    }
    if (!this.running || this.status.state === ConnectionState.Connected) return;
    if (this.session) return; // an attempt is under way already
    this.connect();
  }

  /** Closes the connection (1000) and stops listening to the browser. */
  stop(): void {
    this.running = false;
    this.cancelRetry();
    for (const handle of this.pendingRetries) this.env.clearTimeout(handle);
    this.pendingRetries.clear();
    this.closeSession("stop", CloseCode.Normal, "client closed");
    while (this.unlisten.length) this.unlisten.pop()?.();
    this.setStatus({ state: ConnectionState.Idle, nextRetryAtMs: null, detail: "stopped", offlineCause: null });
  }

  // ---- lifecycle ---------------------------------------------------------------------

  private start(): void {
    if (this.running || this.token === null) return;
    this.running = true;
    this.unlisten.push(
      this.env.listen("online", () => this.browserOnline()),
      this.env.listen("offline", () => this.browserOffline()),
      this.env.listen("visibilitychange", () => this.tabVisibility()),
    );
    this.connect();
  }

  private connect(): void {
    this.cancelRetry();
    if (!this.running || this.token === null) return;
    if (!this.env.isOnline()) {
      this.setStatus({
        state: ConnectionState.Offline,
        offlineCause: "browser",
        nextRetryAtMs: null,
        detail: "the browser is offline",
      });
      return;
    }
    let socket: SocketLike;
    try {
      socket = this.env.createSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(null, `cannot open the socket: ${String(err)}`);
      return;
    }
    const session: Session = {
      socket,
      nextId: 1,
      authenticated: false,
      protocol: PROTOCOL_VERSION,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      silenceTimer: null,
      retryAfterMs: null,
      statsRequestId: null,
      closedByClient: null,
    };
    this.session = session;
    this.setStatus({
      state: this.everConnected || this.backoff.attempt > 0 ? ConnectionState.Reconnecting : ConnectionState.Connecting,
      nextRetryAtMs: null,
      detail: this.backoff.attempt > 0 ? `attempt ${this.backoff.attempt + 1}` : "opening",
    });
    this.watchSilence(session, HANDSHAKE_TIMEOUT_MS, "handshake");
    socket.onmessage = (ev) => {
      if (this.session === session) this.received(session, ev);
    };
    socket.onclose = (ev) => {
      if (this.session === session) this.closed(session, ev.code, ev.reason);
    };
    socket.onerror = () => {
      /* a close event follows */
    };
  }

  /** Closes the current socket on purpose; its close handler is detached first. */
  private closeSession(why: NonNullable<Session["closedByClient"]>, code: number, reason: string): void {
    const session = this.session;
    if (!session) return;
    session.closedByClient = why;
    this.session = null;
    this.env.clearTimeout(session.silenceTimer);
    session.socket.onmessage = null;
    session.socket.onclose = null;
    try {
      const state = session.socket.readyState as ReadyState;
      if (state === ReadyState.Connecting || state === ReadyState.Open) {
        session.socket.close(code, reason);
      }
    } catch {
      /* closing a dead socket */
    }
  }

  private closed(session: Session, code: number, reason: string): void {
    this.session = null;
    this.env.clearTimeout(session.silenceTimer);
    this.status = { ...this.status, lastClose: { code, reason } };
    if (!this.running) return;
    switch (code as CloseCode) {
      case CloseCode.Normal:
        this.setStatus({ state: ConnectionState.Closed, nextRetryAtMs: null, detail: "closed by the server" });
        return;
      case CloseCode.Unauthenticated:
      case CloseCode.TokenExpired:
        this.authFailed(code === CloseCode.TokenExpired ? "session expired" : "not authenticated");
        return;
      case CloseCode.MessageTooBig:
      case CloseCode.Abuse:
        this.setStatus({
          state: ConnectionState.Closed,
          nextRetryAtMs: null,
          detail: `closed by the server (${code}${reason ? `: ${reason}` : ""})`,
        });
        return;
      case CloseCode.ServiceRestart:
      case CloseCode.AuthTimeout:
        this.scheduleAt(this.backoff.restartDelayMs(), ConnectionState.Reconnecting, "server restarting");
        return;
      case CloseCode.TryAgainLater:
        this.scheduleReconnect(retryAfterMsFromReason(reason) ?? session.retryAfterMs, "server at capacity");
        return;
      case CloseCode.SlowConsumer:
        // The server dropped us for falling behind again and again: ask for less.
        this.subscriptions.mode = Mode.Latest;
        this.scheduleReconnect(null, "too slow to keep up; resuming in latest mode");
        return;
      case CloseCode.TooManyConnections:
        this.scheduleReconnect(null, "too many connections for this user: close other tabs");
        return;
      default:
        this.scheduleReconnect(session.retryAfterMs, session.authenticated ? "connection lost" : "cannot connect");
    }
  }

  private authFailed(reason: string): void {
    this.closeSession("stop", CloseCode.Normal, reason);
    this.running = false;
    this.cancelRetry();
    while (this.unlisten.length) this.unlisten.pop()?.();
    this.token = null;
    this.setStatus({ state: ConnectionState.Closed, nextRetryAtMs: null, detail: reason });
    for (const listener of [...this.authFailureListeners]) listener(reason);
  }

  private scheduleReconnect(retryAfterMs: number | null, detail: string): void {
    this.scheduleAt(this.backoff.nextDelayMs(retryAfterMs), ConnectionState.Reconnecting, detail);
  }

  private scheduleAt(delayMs: number, state: ConnectionState, detail: string, cause: OfflineCause | null = null): void {
    this.cancelRetry();
    this.setStatus({
      state,
      offlineCause: cause,
      nextRetryAtMs: this.env.now() + delayMs,
      retryDelayMs: delayMs,
      detail,
      connectedSinceMs: null,
    });
    this.retryTimer = this.env.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delayMs);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) {
      this.env.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private browserOffline(): void {
    if (!this.running) return;
    this.cancelRetry();
    this.closeSession("offline", CloseCode.GoingAway, "browser offline");
    this.setStatus({
      state: ConnectionState.Offline,
      offlineCause: "browser",
      nextRetryAtMs: null,
      detail: "the browser is offline",
      connectedSinceMs: null,
    });
  }

  private browserOnline(): void {
    if (!this.running || this.session) return;
    this.connect();
  }

  private tabVisibility(): void {
    if (!this.running || this.session || !this.env.isVisible()) return;
    if (this.status.state === ConnectionState.Reconnecting || this.status.state === ConnectionState.Offline) {
      this.connect();
    }
  }

  // ---- messages ----------------------------------------------------------------------

  private watchSilence(session: Session, ms: number, why: "silent" | "handshake"): void {
    this.env.clearTimeout(session.silenceTimer);
    session.silenceTimer = this.env.setTimeout(() => {
      if (this.session !== session) return;
      const wasAuthenticated = session.authenticated;
      this.closeSession(why, CloseCode.GoingAway, why === "silent" ? "server silent" : "handshake timeout");
      this.status = { ...this.status, lastClose: null };
      const delayMs = this.backoff.nextDelayMs();
      if (why === "silent" || wasAuthenticated) {
        this.scheduleAt(delayMs, ConnectionState.Offline, `no heartbeat from the server for ${Math.round(ms / 1000)} s`, "heartbeat");
      } else {
        this.scheduleAt(delayMs, ConnectionState.Reconnecting, "the server did not answer in time");
      }
    }, ms);
  }

  private received(session: Session, ev: MessageEvent): void {
    const receivedAtMs = this.env.now();
    this.frames += 1;
    if (session.authenticated) {
      this.watchSilence(session, session.heartbeatMs * HEARTBEAT_GRACE_INTERVALS, "silent");
    }
    if (typeof ev.data !== "string") return;
    let messages: ServerMessage[];
    try {
      messages = decodeFrame(ev.data);
    } catch (err) {
      if (err instanceof MalformedMessageError) {
        console.warn("ignoring a server frame:", err.message);
        return;
      }
      throw err;
    }
    for (const msg of messages) {
      if (this.session !== session) return; // a message closed the session
      try {
        this.dispatch(session, msg, receivedAtMs);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        console.warn("ignoring a server message:", err.message);
      }
    }
  }

  private dispatch(session: Session, msg: ServerMessage, receivedAtMs: number): void {
    switch (msg.type) {
      case "welcome":
        if (msg.protocol !== PROTOCOL_VERSION) console.warn(`server speaks protocol ${msg.protocol}`);
        if (typeof msg.heartbeat_s === "number" && msg.heartbeat_s > 0) session.heartbeatMs = msg.heartbeat_s * 1000;
        this.status = { ...this.status, connectionId: msg.connection };
        session.protocol = negotiatedProtocol(msg.protocol);
        if (this.token !== null) {
          this.send(session, {
            type: "auth",
            token: this.token,
            id: session.nextId++,
            protocol: session.protocol,
          });
        }
        return;
      case "authenticated":
        if (session.authenticated) return; // a refresh on the open socket: nothing changes
        this.authenticated(session, msg.user);
        return;
      case "ping":
        this.send(session, { type: "pong" });
        return;
      case "pong":
        return;
      case "subscribed": {
        if (!this.subscriptions.isCurrent(msg.farm, msg.id)) return;
        this.subscriptions.subscribed(msg.farm, msg.epoch, msg.snapshot ? msg.snapshot.seq : null);
        if (msg.snapshot) {
          this.emit({ type: "snapshot", farm: msg.farm, epoch: msg.epoch, snapshot: msg.snapshot, receivedAtMs });
        } else if (msg.resume) {
          this.emit({ type: "resumed", farm: msg.farm, epoch: msg.epoch, from: msg.resume.from, to: msg.resume.to });
        }
        return;
      }
      case "batch": {
        const changes = this.subscriptions.consume(msg.farm, batchChanges(msg));
        if (changes.length) {
          this.emit({ type: "changes", farm: msg.farm, changes, sentMs: msg.sent ?? null, receivedAtMs });
        }
        return;
      }
      case "resync_required":
        if (!this.subscriptions.has(msg.farm)) return;
        this.subscriptions.resync(msg.farm);
        this.emit({ type: "resync", farm: msg.farm, reason: msg.reason });
        this.sendSubscribe(msg.farm);
        return;
      case "unsubscribed":
        // A deleted farm is as gone as a removed role: no resubscribing to it.
        if (msg.reason === UnsubscribeReason.Forbidden || msg.reason === UnsubscribeReason.FarmDeleted) {
          this.subscriptions.drop(msg.farm);
          this.emit({ type: "ended", farm: msg.farm, reason: msg.reason });
        }
        // `token_expired`: an `error` comes too, and the auth failure takes over.
        return;
      case "stats":
        if (session.statsRequestId === null) return; // unwatched meanwhile
        for (const listener of [...this.statsListeners]) listener({ type: "stats", message: msg });
        return;
      case "stats_unsubscribed":
        session.statsRequestId = null;
        return;
      case "error":
        this.serverError(session, msg);
        return;
      default:
        return; // a newer server's message: ignored (docs/protocol.md, Versioning)
    }
  }

  private authenticated(session: Session, user: string): void {
    session.authenticated = true;
    this.env.clearTimeout(session.silenceTimer);
    this.watchSilence(session, session.heartbeatMs * HEARTBEAT_GRACE_INTERVALS, "silent");
    this.backoff.reset();
    if (this.everConnected) this.reconnects += 1;
    this.everConnected = true;
    this.setStatus({
      state: ConnectionState.Connected,
      attempt: 0,
      nextRetryAtMs: null,
      offlineCause: null,
      detail: `as ${user}`,
      user,
      connectedSinceMs: this.env.now(),
    });
    for (const farm of this.subscriptions.list()) this.sendSubscribe(farm);
    this.sendSubscribeStats();
  }

  private serverError(session: Session, msg: ErrorMessage): void {
    if (msg.id != null && msg.id === session.statsRequestId) {
      session.statsRequestId = null;
      for (const listener of [...this.statsListeners]) listener({ type: "refused", code: msg.code });
      return;
    }
    const farm = this.farmOfRequest(msg.id);
    switch (msg.code) {
      case ErrorCode.Unauthenticated:
      case ErrorCode.TokenExpired:
        // The server closes (4001) or waits for a new token (4003); this client has none.
        this.authFailed(msg.code === ErrorCode.TokenExpired ? "session expired" : "not authenticated");
        return;
      case ErrorCode.Forbidden:
      case ErrorCode.NotFound:
        if (farm !== null) {
          this.subscriptions.drop(farm);
          this.emit({ type: "ended", farm, reason: msg.code });
        }
        return;
      case ErrorCode.Overloaded:
        if (farm === null) {
          session.retryAfterMs = msg.retry_after_ms ?? null; // the server closes 1013 next
        } else if (this.subscriptions.has(farm)) {
          const handle = this.env.setTimeout(() => {
            this.pendingRetries.delete(handle);
            this.sendSubscribe(farm);
          }, (msg.retry_after_ms ?? 0) + this.backoff.jitterMs());
          this.pendingRetries.add(handle);
        }
        return;
      default:
        console.warn(`server error ${msg.code}: ${msg.message}`);
    }
  }

  private farmOfRequest(id: number | null | undefined): number | null {
    if (typeof id !== "number") return null;
    for (const farm of this.subscriptions.list()) {
      if (this.subscriptions.get(farm)?.requestId === id) return farm;
    }
    return null;
  }

  private sendSubscribe(farm: number): void {
    const session = this.session;
    if (!session?.authenticated || !this.subscriptions.has(farm)) return;
    const msg = this.subscriptions.request(farm, session.nextId++);
    // A v1 server knows no `alarms` topic and would refuse the subscription over it.
    if (msg.topics && session.protocol < ALARMS_PROTOCOL) msg.topics = msg.topics.filter((t) => t !== Topic.Alarms);
    this.send(session, msg);
  }

  private sendSubscribeStats(): void {
    const session = this.session;
    if (!session?.authenticated || !this.statsListeners.size) return;
    session.statsRequestId = session.nextId++;
    this.send(session, { type: "subscribe_stats", id: session.statsRequestId });
  }

  private sendIfAuthenticated(msg: ClientMessage): void {
    const session = this.session;
    if (session?.authenticated) this.send(session, { ...msg, id: session.nextId++ });
  }

  private send(session: Session, msg: ClientMessage): void {
    if ((session.socket.readyState as ReadyState) !== ReadyState.Open) return;
    session.socket.send(JSON.stringify(msg));
  }

  private emit(message: FarmMessage): void {
    for (const listener of [...this.messageListeners]) listener(message);
  }

  private setStatus(patch: Partial<ConnectionStatus>): void {
    const next = { ...this.status, ...patch, attempt: patch.attempt ?? this.backoff.attempt };
    if (next.nextRetryAtMs === null) next.retryDelayMs = null;
    this.status = next;
    for (const listener of [...this.statusListeners]) listener(next);
  }
}
