// One connection to the server over one transport (WebSocket, Server-Sent Events or long
// polling). A link starts delivery from the positions it is given, hands every received
// message (frames separated by '\n': replies and pushes alike) to the client, carries
// request frames, and says when delivery is under way (synced) and when it ended
// (closed). The client keeps everything else (outbox, inbox order, positions), so
// switching links loses and repeats nothing.
//
// Contract: after closed() or close(), no callback runs again. Request ids the client uses
// are integers; a link's own requests use string ids starting with "link:".
import type { Since } from './cursor.js';

export type TransportName = 'websocket' | 'sse' | 'long_polling';

export interface LinkClosed {
  why: string;
  /** WebSocket close code, SSE close event code or HTTP status (0 if none). */
  code: number;
  /** The token was rejected (401, an `unauthenticated` auth reply) or revoked (4003). */
  auth: boolean;
  /** The server was reached: the transport failed, not the network. */
  reached: boolean;
  /** Delivery had started on this link. */
  synced: boolean;
}

export interface LinkEvents {
  message(text: string): void;
  synced(): void;
  closed(c: LinkClosed): void;
}

/** The minimal WebSocket surface the SDK uses (the browser's, or npm `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;
export type FetchFunction = typeof fetch;

/** What every link needs from the client. */
export interface LinkContext {
  /** http(s)://host:port, no trailing slash. */
  baseUrl: string;
  token(): string;
  fetch: FetchFunction;
  WebSocket?: WebSocketConstructor;
  handshakeTimeoutMs: number;
  heartbeatTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface Link {
  readonly transport: TransportName;
  /** Connects and starts delivery from `since` (null: from now on). */
  start(since: Since): void;
  /** Sends a request frame; its reply arrives through message(). */
  request(frame: string): void;
  /** Ends the link at once, without callbacks. */
  close(): void;
}

/** Whether the server answers HTTP at all (any status): tells a transport that is refused
 *  on the way (a proxy) from a server that is down. */
export async function reachable(ctx: LinkContext): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), Math.min(ctx.handshakeTimeoutMs, 5_000));
  try {
    await ctx.fetch(`${ctx.baseUrl}/healthz`, { signal: ac.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
