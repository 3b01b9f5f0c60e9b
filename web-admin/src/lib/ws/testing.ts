/**
 * Fakes for the client's tests: sockets a test drives by hand, a manual clock with timers,
 * and browser events it fires. Imported only by *.test.ts.
 */

import type { BrowserEvent, ClientEnvironment, SocketLike } from "./client";
import { ReadyState } from "./client";
import type { ClientMessage } from "./messages";

export class FakeSocket implements SocketLike {
  readyState: number = ReadyState.Connecting;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  readonly sent: ClientMessage[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = ReadyState.Closed;
  }

  // -- driven by the test --

  open(): void {
    this.readyState = ReadyState.Open;
    this.onopen?.({} as Event);
  }

  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) } as MessageEvent);
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = ReadyState.Closed;
    this.onclose?.({ code, reason } as CloseEvent);
  }

  sentOfType<T extends ClientMessage["type"]>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<ClientMessage, { type: T }> => m.type === type);
  }
}

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeEnvironment implements ClientEnvironment {
  nowMs = 1_767_225_600_000;
  online = true;
  visible = true;
  readonly sockets: FakeSocket[] = [];
  private timers: Timer[] = [];
  private nextTimer = 1;
  private readonly handlers = new Map<BrowserEvent, Set<() => void>>();

  createSocket = (url: string): SocketLike => {
    const socket = new FakeSocket(url);
    this.sockets.push(socket);
    return socket;
  };

  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { id: this.nextTimer++, at: this.nowMs + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== handle);
  };

  now = (): number => this.nowMs;
  isOnline = (): boolean => this.online;
  isVisible = (): boolean => this.visible;

  listen = (event: BrowserEvent, fn: () => void): (() => void) => {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  };

  fire(event: BrowserEvent): void {
    for (const fn of [...(this.handlers.get(event) ?? [])]) fn();
  }

  /** Moves the clock on, running the timers that fall due, in order. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.nowMs = due.at;
      due.fn();
    }
    this.nowMs = end;
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  get lastSocket(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (!socket) throw new Error("no socket opened");
    return socket;
  }
}

export const WELCOME = {
  type: "welcome",
  protocol: 2,
  server_time: 1_767_225_600_000,
  heartbeat_s: 15,
  max_frame_bytes: 65536,
  connection: "c1",
};

/** Opens the last socket and answers welcome and auth. */
export function handshake(env: FakeEnvironment, user = "alice"): FakeSocket {
  const socket = env.lastSocket;
  socket.open();
  socket.receive(WELCOME);
  socket.receive({ type: "authenticated", id: 1, user, expires_at: 1_767_268_800 });
  return socket;
}
