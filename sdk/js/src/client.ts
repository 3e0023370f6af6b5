// ParleyClient: one connection to a Parley server with what a chat UI needs (docs/sdk-js.md).
// It connects over WebSocket, falling back to SSE and long polling; authenticates with a
// token; resumes from stored positions; keeps the connection checked; reconnects with
// backoff; sends queued messages from a durable outbox; and emits every event exactly once
// and in order per conversation. Semantics follow the C++ SDK (docs/sdk.md).
//
// Contract: construct, subscribe with on(), then `await start()` (loads the storage, then
// connects in the background). Every listener runs synchronously from the client's own
// callbacks; none may block. stop() closes the connection; a stopped client is not started
// again (make a new one on the same storage).
import { Activity } from './activity.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { Conversations } from './conversations.js';
import type { Since } from './cursor.js';
import { Emitter } from './emitter.js';
import { ParleyError } from './errors.js';
import type { FetchFunction, Link, LinkClosed, LinkContext, TransportName, WebSocketConstructor } from './link.js';
import { Outbox, sendRequest, type SendOptions } from './outbox.js';
import { PollLink } from './poll-link.js';
import { rpc, upload } from './rest.js';
import { SendStates, type MessageStateChange, type SendState } from './send-states.js';
import { Sequencer } from './sequencer.js';
import { SseLink } from './sse-link.js';
import { MemoryStorage, type OutboxEntry, type ParleyStorage } from './storage.js';
import type {
  Conversation, JsonObject, MessageView, Page, ParleyEvent, PresenceState, SearchRequest, SearchResult, SendAck, Upload,
} from './types.js';
import { WsLink } from './ws-link.js';

export type ConnectionState = 'offline' | 'connecting' | 'online' | 'backing_off';

export interface ClientOptions {
  /** http(s)://host:port of the server (ws(s):// is derived from it). */
  server: string;
  /** Bearer token from login. */
  token: string;
  /** The token's expiry (login's expires_ms): enables automatic token.refresh. */
  tokenExpiresMs?: number;
  /** Refresh this long before the expiry (default one day; at most half the time left). */
  refreshMarginMs?: number;
  /** Outbox and positions; default: a new MemoryStorage (nothing survives the process). */
  storage?: ParleyStorage;
  /** WebSocket constructor; default: globalThis.WebSocket (Node 20: pass npm `ws`). */
  WebSocket?: WebSocketConstructor;
  /** fetch; default: globalThis.fetch. */
  fetch?: FetchFunction;
  /** Transports in order of preference; default all three, WebSocket first. */
  transports?: TransportName[];
  /** Failed attempts in a row that reached the server before the next transport (2). */
  fallbackAfter?: number;
  /** Time online on a later transport before trying the first again (5 min). */
  transportRetryMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Jitter source in [0, 1) (Math.random). */
  random?: () => number;
  handshakeTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Sends awaiting acknowledgement at once (64). */
  sendWindow?: number;
  /** With no stored position at all: replay every conversation from the join (true) or
   *  start live (false). */
  replayFromJoin?: boolean;
  /** Delivery receipts (`ack`) at most this often; 0: never (1000). */
  ackIntervalMs?: number;
  /** The user's id if known (else learnt from the WebSocket auth or own messages). */
  userId?: number;
}

export interface ReceiptsUpdate {
  conv: number;
  thread: number;
  delivered: Record<string, number>;
  read: Record<string, number>;
}

/** Everything a client emits, by name. */
export interface ClientEvents {
  state: ConnectionState;
  transport: TransportName;
  event: ParleyEvent;
  ack: SendAck;
  sendFailed: { clientMsgId: string; conv: number; error: ParleyError };
  messageState: MessageStateChange;
  outbox: number;
  historyLost: { conv: number; fromSeq: number; toSeq: number };
  authFailed: ParleyError;
  receipts: ReceiptsUpdate;
  typing: { conv: number; users: number[] };
  presence: PresenceState;
  /** `read`, `follow` and `mention` notices about the user, from any device. */
  notice: JsonObject;
  conversations: Conversation[];
  token: { token: string; expiresMs: number };
  /** A local problem that did not stop the client (e.g. a storage write failed). */
  error: ParleyError;
}

type CallKind = 'send' | 'user' | 'fill' | 'ack' | 'internal';
interface PendingCall {
  kind: CallKind;
  deadline: number;
  cmid?: string;
  conv?: number;
  resolve?: (r: JsonObject) => void;
  reject?: (e: ParleyError) => void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class ParleyClient extends Emitter<ClientEvents> {
  readonly opt: Required<Omit<ClientOptions, 'tokenExpiresMs' | 'userId' | 'WebSocket' | 'backoff'>> & {
    WebSocket?: WebSocketConstructor;
  };
  #token: string;
  #tokenExpires: number | undefined;
  #storage: ParleyStorage;
  #backoff: Backoff;
  #seq = new Sequencer();
  #outbox: Outbox | null = null;
  #states: SendStates;
  #activity: Activity;
  #convs: Conversations;

  #state: ConnectionState = 'offline';
  #link: Link | null = null;
  #tidx = 0;
  #transportFails = 0;
  #synced = false;
  #started = false;
  #stopped = false;
  #nextId = 1;
  #calls = new Map<number, PendingCall>();
  #inflight = new Map<string, number>(); // cmid -> request id of its current send
  #pausedUntil = 0;
  #window = 0; // sends in flight allowed now: sendWindow, or smaller after a refusal
  #filling = new Set<number>();
  #dirty = new Map<number, number>();
  #toAck = new Map<number, number>();
  #lastAck = 0;
  #saving: Promise<void> = Promise.resolve();
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #tickTimer: ReturnType<typeof setInterval> | null = null;
  #upgradeTimer: ReturnType<typeof setTimeout> | null = null;
  #pauseTimer: ReturnType<typeof setTimeout> | null = null;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  #reloadingConvs = false;

  constructor(options: ClientOptions) {
    super();
    const f = options.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
    if (!f) throw new ParleyError('invalid', 'no fetch implementation (pass options.fetch)', 'fetch');
    if (!/^https?:\/\//.test(options.server)) {
      throw new ParleyError('invalid', 'server must be an http:// or https:// URL', 'server');
    }
    this.opt = {
      server: options.server.replace(/\/+$/, ''),
      token: options.token,
      refreshMarginMs: options.refreshMarginMs ?? 86_400_000,
      storage: options.storage ?? new MemoryStorage(),
      fetch: f,
      transports: options.transports && options.transports.length > 0 ? options.transports : ['websocket', 'sse', 'long_polling'],
      fallbackAfter: options.fallbackAfter ?? 2,
      transportRetryMs: options.transportRetryMs ?? 300_000,
      random: options.random ?? Math.random,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 30_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      sendWindow: options.sendWindow ?? 64,
      replayFromJoin: options.replayFromJoin ?? true,
      ackIntervalMs: options.ackIntervalMs ?? 1000,
    };
    if (options.WebSocket) this.opt.WebSocket = options.WebSocket;
    this.#token = options.token;
    this.#tokenExpires = options.tokenExpiresMs;
    this.#storage = this.opt.storage;
    this.#backoff = new Backoff({ ...DEFAULT_BACKOFF, ...options.backoff }, this.opt.random);
    this.#states = new SendStates((c) => this.emit('messageState', c));
    if (options.userId !== undefined) this.#states.setSelf(options.userId);
    this.#activity = new Activity(
      (conv, users) => this.emit('typing', { conv, users }),
      (p) => this.emit('presence', p),
    );
    this.#convs = new Conversations((list) => this.emit('conversations', list));
  }

  // ----- observable state --------------------------------------------------------------

  get state(): ConnectionState {
    return this.#state;
  }
  get transport(): TransportName {
    return this.opt.transports[this.#tidx] as TransportName;
  }
  get token(): string {
    return this.#token;
  }
  get userId(): number | undefined {
    return this.#states.self;
  }
  /** Unacknowledged messages. */
  get outboxSize(): number {
    return this.#outbox?.size ?? 0;
  }
  /** The queued (unacknowledged) messages, oldest first; after start() this includes
   *  those loaded from the storage (a reloaded page shows them as pending). */
  get queued(): readonly OutboxEntry[] {
    return this.#outbox?.entries() ?? [];
  }
  /** The last delivered seq of a conversation (0 if none). */
  position(conv: number): number {
    return this.#seq.position(conv) ?? 0;
  }
  /** The send state of one of the user's messages (undefined if not tracked). */
  sendState(clientMsgId: string): SendState | undefined {
    return this.#states.get(clientMsgId);
  }
  deliveredTo(conv: number, seq: number): number[] {
    return this.#states.deliveredTo(conv, seq);
  }
  readBy(conv: number, seq: number): number[] {
    return this.#states.readBy(conv, seq);
  }
  /** The conversation list as last loaded and updated (see the `conversations` event). */
  get conversations(): Conversation[] {
    return this.#convs.list();
  }
  typingIn(conv: number): number[] {
    return this.#activity.typingIn(conv);
  }
  presenceOf(user: number): PresenceState | undefined {
    return this.#activity.presenceOf(user);
  }

  // ----- lifecycle -----------------------------------------------------------------------

  /** Loads the outbox and positions from the storage, then connects (in the background). */
  async start(): Promise<void> {
    if (this.#started) throw new ParleyError('invalid', 'a client is started once');
    this.#started = true;
    const stored = await this.#storage.load();
    this.#outbox = await Outbox.open(this.#storage, stored);
    for (const [c, s] of stored.positions) this.#seq.setPosition(c, s);
    for (const e of this.#outbox.entries()) this.#states.pending(e.client_msg_id, e.conv);
    if (this.#stopped) return;
    this.#tickTimer = setInterval(() => this.#tick(), 200);
    this.#scheduleRefresh();
    this.#connect();
  }

  /** Closes the connection; queued messages stay in the storage. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of [this.#retryTimer, this.#upgradeTimer, this.#pauseTimer, this.#refreshTimer]) if (t) clearTimeout(t);
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    this.#resetConnection();
    this.#activity.clear();
    this.#setState('offline');
    await this.#saving;
  }

  // ----- sending -------------------------------------------------------------------------

  /** Queues a message; resolves with its client_msg_id once it is durable in the storage.
   *  It is sent when online, and again after reconnects until acknowledged. */
  async send(conv: number, text: string, o: SendOptions = {}): Promise<string> {
    if (!this.#outbox) throw new ParleyError('invalid', 'send() before start()');
    let e;
    try {
      e = await this.#outbox.add(conv, text, o);
    } catch (err) {
      throw err instanceof ParleyError ? err : new ParleyError('storage', String(err));
    }
    this.#states.pending(e.client_msg_id, conv);
    this.emit('outbox', this.#outbox.size);
    this.#flush();
    return e.client_msg_id;
  }

  // ----- operations ----------------------------------------------------------------------

  /** Runs any operation (docs/protocol.md): on the connection when online, else over
   *  POST /v1/rpc. Rejects with a ParleyError. */
  call<T = JsonObject>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (!this.#synced || !this.#link) {
      return rpc<T>({ server: this.opt.server, fetch: this.opt.fetch, token: this.#token }, op, args).catch((err: unknown) => {
        throw err instanceof ParleyError && err.code === 'network' ? new ParleyError('offline', err.message) : err;
      });
    }
    return new Promise<T>((resolve, reject) => {
      this.#request({ ...args, op }, {
        kind: 'user',
        resolve: resolve as (r: JsonObject) => void,
        reject,
      });
    });
  }

  edit(conv: number, msg: number, text: string): Promise<JsonObject> {
    return this.call('edit', { conv, msg, text });
  }
  deleteMessage(conv: number, msg: number): Promise<JsonObject> {
    return this.call('delete', { conv, msg });
  }
  react(conv: number, msg: number, emoji: string, add = true): Promise<JsonObject> {
    return this.call(add ? 'react' : 'unreact', { conv, msg, emoji });
  }
  follow(conv: number, thread: number, on = true): Promise<JsonObject> {
    return this.call(on ? 'follow' : 'unfollow', { conv, thread });
  }
  /** Moves the read position forward (and the conversation's unread count with it). */
  async markRead(conv: number, seq: number, thread = 0): Promise<JsonObject> {
    const r = await this.call('read', thread ? { conv, seq, thread } : { conv, seq });
    if (!thread && typeof r.unread === 'number') {
      this.#convs.onRead(conv, seq, r.unread, typeof r.mentions === 'number' ? r.mentions : 0);
    }
    return r;
  }
  /** Tells the others this user is typing (repeat every ~3 s while typing) or stopped. */
  typing(conv: number, on = true): Promise<JsonObject> {
    return this.call('typing', { conv, typing: on });
  }
  setAway(away: boolean): Promise<JsonObject> {
    return this.call('presence', { state: away ? 'away' : 'active' });
  }
  receipts(conv: number, thread = 0): Promise<JsonObject> {
    return this.call('receipts', thread ? { conv, thread } : { conv });
  }
  presence(): Promise<{ presence: PresenceState[] }> {
    return this.call('presence.get');
  }
  settings(s: { private_receipts?: boolean; invisible?: boolean } = {}): Promise<JsonObject> {
    return this.call('settings', s);
  }
  history(conv: number, page: Page = {}): Promise<{ events: ParleyEvent[]; has_more: boolean; first_seq: number; last_seq: number }> {
    return this.call('history', { conv, ...page });
  }
  messages(conv: number, page: Page = {}): Promise<{ messages: MessageView[]; has_more: boolean }> {
    return this.call('messages', { conv, ...page });
  }
  thread(conv: number, root: number, page: Page = {}): Promise<{ root: MessageView; replies: MessageView[]; has_more: boolean }> {
    return this.call('thread', { conv, thread: root, ...page });
  }
  search(q: SearchRequest): Promise<{ results: SearchResult[]; cursor: string | null }> {
    return this.call('search', { ...q });
  }
  async createDirect(peer: string): Promise<Conversation> {
    const r = await this.call<{ conversation: Conversation }>('conv.create', { kind: 'direct', peer });
    this.#convs.put(r.conversation);
    return r.conversation;
  }
  async createGroup(title: string, members: string[] = []): Promise<Conversation> {
    const r = await this.call<{ conversation: Conversation }>('conv.create', { kind: 'group', title, members });
    this.#convs.put(r.conversation);
    return r.conversation;
  }
  /** Loads the conversation list (with unread counts) again; also done on every connect. */
  async refreshConversations(): Promise<Conversation[]> {
    const r = await this.call<{ conversations: Conversation[] }>('conv.list');
    this.#convs.load(r.conversations);
    return this.#convs.list();
  }
  /** Uploads a file over HTTP; pass `{id, name}` in SendOptions.attachments. */
  upload(data: Blob | ArrayBuffer | Uint8Array): Promise<Upload> {
    return upload({ server: this.opt.server, fetch: this.opt.fetch, token: this.#token }, data);
  }
  /** Gets a new token for this device now (the old one stops working); emits `token`. */
  async refreshToken(): Promise<string> {
    const r = await this.call<{ token: string; expires_ms: number }>('token.refresh');
    this.#token = r.token;
    this.#tokenExpires = r.expires_ms;
    this.emit('token', { token: r.token, expiresMs: r.expires_ms });
    this.#scheduleRefresh();
    return r.token;
  }

  // ----- connection ----------------------------------------------------------------------

  #setState(s: ConnectionState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  #context(): LinkContext {
    const ctx: LinkContext = {
      baseUrl: this.opt.server,
      token: () => this.#token,
      fetch: this.opt.fetch,
      handshakeTimeoutMs: this.opt.handshakeTimeoutMs,
      heartbeatTimeoutMs: this.opt.heartbeatTimeoutMs,
      requestTimeoutMs: this.opt.requestTimeoutMs,
    };
    if (this.opt.WebSocket) ctx.WebSocket = this.opt.WebSocket;
    return ctx;
  }

  #since(): Since {
    const p = this.#seq.positions();
    if (!this.opt.replayFromJoin && p.size === 0) return null;
    return new Map(p);
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#setState('connecting');
    const t = this.transport;
    let link: Link;
    const events = {
      message: (text: string) => {
        if (this.#link === link) this.#onMessage(text);
      },
      synced: () => {
        if (this.#link === link) this.#onSynced();
      },
      closed: (c: LinkClosed) => {
        if (this.#link === link) this.#onClosed(c);
      },
    };
    const ctx = this.#context();
    link = t === 'websocket' ? new WsLink(ctx, events) : t === 'sse' ? new SseLink(ctx, events) : new PollLink(ctx, events);
    this.#link = link;
    link.start(this.#since());
  }

  #onSynced(): void {
    this.#synced = true;
    this.#transportFails = 0;
    this.#backoff.onConnected();
    this.#setState('online');
    this.emit('transport', this.transport);
    if (this.#tidx > 0) {
      const link = this.#link;
      this.#upgradeTimer = setTimeout(() => {
        if (this.#stopped || this.#link !== link) return;
        this.#tidx = 0;
        this.#transportFails = 0;
        this.#reconnectNow();
      }, this.opt.transportRetryMs);
    }
    this.#request({ op: 'conv.list' }, {
      kind: 'internal',
      resolve: (r) => this.#convs.load((r.conversations as unknown as Conversation[]) ?? []),
    });
    this.#flush();
    this.#fillGaps();
  }

  #onClosed(c: LinkClosed): void {
    if (c.auth) {
      return this.#authFailed(new ParleyError('unauthenticated',
        c.code === 4003 ? 'logged out: the token was revoked' : 'the token was rejected'));
    }
    if (!c.synced && c.reached && ++this.#transportFails >= this.opt.fallbackAfter &&
        this.#tidx + 1 < this.opt.transports.length) {
      this.#tidx++;
      this.#transportFails = 0;
      return this.#reconnectNow();
    }
    this.#drop();
  }

  #resetConnection(): void {
    if (this.#upgradeTimer) clearTimeout(this.#upgradeTimer);
    this.#upgradeTimer = null;
    const l = this.#link;
    this.#link = null;
    l?.close();
    this.#synced = false;
    this.#filling.clear();
    this.#inflight.clear();
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const c of calls) c.reject?.(new ParleyError('offline', 'the connection was lost'));
  }

  /** The connection failed or was lost: back off, then connect again. */
  #drop(): void {
    this.#resetConnection();
    if (this.#stopped) return this.#setState('offline');
    this.#setState('backing_off');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, this.#backoff.nextDelay());
  }

  /** A transport switch: connect again at once from the positions saved so far. */
  #reconnectNow(): void {
    this.#resetConnection();
    if (this.#stopped) return this.#setState('offline');
    queueMicrotask(() => {
      if (!this.#stopped && !this.#link) this.#connect();
    });
  }

  #authFailed(e: ParleyError): void {
    this.#stopped = true;
    for (const t of [this.#retryTimer, this.#pauseTimer, this.#refreshTimer]) if (t) clearTimeout(t);
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    this.#resetConnection();
    this.#setState('offline');
    this.emit('authFailed', e);
  }

  #tick(): void {
    const now = Date.now();
    for (const c of this.#calls.values()) {
      if (c.deadline <= now) return this.#drop();
    }
    this.#sendAcks(now);
  }

  #request(req: Record<string, unknown>, pc: Omit<PendingCall, 'deadline'>): number {
    const id = this.#nextId++;
    this.#calls.set(id, { ...pc, deadline: Date.now() + this.opt.requestTimeoutMs });
    this.#link?.request(JSON.stringify({ ...req, id }));
    return id;
  }

  // ----- receiving -----------------------------------------------------------------------

  #onMessage(text: string): void {
    // Data arrived: requests waiting behind a long replay are not stuck.
    const deadline = Date.now() + this.opt.requestTimeoutMs;
    for (const c of this.#calls.values()) c.deadline = Math.max(c.deadline, deadline);
    try {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (typeof o !== 'object' || o === null) continue;
        if (typeof o.ev === 'object' && o.ev !== null) this.#offer(o.ev as ParleyEvent);
        else if (typeof o.notice === 'string') this.#onNotice(o as JsonObject);
        else if (typeof o.id === 'number') this.#onReply(o.id, o);
        else if (o.id === 'link:auth') this.#learnSelf(o);
      }
    } catch (err) {
      // A throwing listener is caught by the emitter; this is a malformed frame.
      this.emit('error', new ParleyError('internal', `processing a frame failed: ${String(err)}`));
      return this.#drop();
    }
    this.#persistPositions();
    this.#fillGaps();
  }

  #learnSelf(o: Record<string, unknown>): void {
    const user = (o.result as { user?: { id?: unknown } } | undefined)?.user;
    if (typeof user?.id === 'number') this.#states.setSelf(user.id);
  }

  #offer(e: ParleyEvent): void {
    if (typeof e.conv !== 'number' || typeof e.seq !== 'number') throw new Error('an event without conv and seq');
    if (typeof e.data !== 'object' || e.data === null) e.data = {};
    for (const d of this.#seq.offer(e)) {
      this.#dirty.set(d.conv, d.seq);
      if (d.type === 'message.created' && d.client_msg_id && this.#states.get(d.client_msg_id) !== undefined &&
          this.#states.self === undefined) {
        this.#states.setSelf(d.sender);
      }
      this.#convs.onEvent(d, this.#states.self);
      this.emit('event', d);
    }
    if (this.#convs.needsReload()) this.#reloadConversations();
  }

  #reloadConversations(): void {
    if (this.#reloadingConvs || !this.#synced) return;
    this.#reloadingConvs = true;
    const done = () => {
      this.#reloadingConvs = false;
    };
    this.#request({ op: 'conv.list' }, {
      kind: 'internal',
      resolve: (r) => {
        done();
        this.#convs.load((r.conversations as unknown as Conversation[]) ?? []);
      },
      reject: done,
    });
  }

  #persistPositions(): void {
    if (this.#dirty.size === 0) return;
    const changes = this.#dirty;
    this.#dirty = new Map();
    this.#saving = this.#saving
      .then(() => this.#storage.savePositions(changes))
      .then(() => {
        if (this.opt.ackIntervalMs > 0) {
          for (const [c, s] of changes) this.#toAck.set(c, Math.max(this.#toAck.get(c) ?? 0, s));
        }
      })
      .catch((err: unknown) => {
        this.emit('error', new ParleyError('storage', `saving positions failed: ${String(err)}`));
        if (!this.#stopped) this.#drop();
      });
  }

  /** Delivery receipts: what was received and saved since the last ack, in one request. */
  #sendAcks(now: number): void {
    if (this.#toAck.size === 0 || !this.#synced || now - this.#lastAck < this.opt.ackIntervalMs) return;
    const positions: Record<string, number> = {};
    for (const [c, s] of this.#toAck) positions[String(c)] = s;
    this.#toAck.clear();
    this.#lastAck = now;
    this.#request({ op: 'ack', positions }, { kind: 'ack' });
  }

  #onNotice(o: JsonObject): void {
    const num = (k: string): number => (typeof o[k] === 'number' ? (o[k] as number) : 0);
    switch (o.notice) {
      case 'receipts': {
        const delivered = (o.delivered ?? {}) as Record<string, number>;
        const read = (o.read ?? {}) as Record<string, number>;
        if (!num('thread')) this.#states.receipts(num('conv'), delivered, read);
        this.emit('receipts', { conv: num('conv'), thread: num('thread'), delivered, read });
        return;
      }
      case 'typing':
        return this.#activity.onTyping(num('conv'), num('user'), o.typing === true, num('expires_ms'));
      case 'presence': {
        const list = Array.isArray(o.users) ? (o.users as unknown as PresenceState[]) : [o as unknown as PresenceState];
        for (const p of list) if (typeof p.user === 'number') this.#activity.onPresence({ ...p });
        return;
      }
      case 'read':
        if (!num('thread')) this.#convs.onRead(num('conv'), num('seq'), num('unread'), num('mentions'));
        this.emit('notice', o);
        return;
      case 'follow':
      case 'mention':
        this.emit('notice', o);
        return;
      case 'position_reset': {
        const conv = num('conv');
        const seq = num('seq');
        this.#seq.setPosition(conv, seq);
        this.#dirty.set(conv, seq);
        return;
      }
      case 'history_pruned': {
        const conv = num('conv');
        const to = num('to_seq');
        if ((this.#seq.position(conv) ?? 0) < to) {
          this.#seq.setPosition(conv, to);
          this.#dirty.set(conv, to);
        }
        this.emit('historyLost', { conv, fromSeq: num('from_seq'), toSeq: to });
        return;
      }
      default:
        return; // notices this version does not know
    }
  }

  #fillGaps(): void {
    if (!this.#synced) return;
    for (const conv of this.#seq.gaps()) {
      if (this.#filling.has(conv)) continue;
      const g = this.#seq.gap(conv);
      if (!g) continue;
      this.#filling.add(conv);
      this.#request({ op: 'history', conv, after: g.after, limit: 200 }, { kind: 'fill', conv });
    }
  }

  #onReply(id: number, o: Record<string, unknown>): void {
    const pc = this.#calls.get(id);
    if (!pc) return;
    this.#calls.delete(id);
    const result = typeof o.result === 'object' && o.result !== null ? (o.result as JsonObject) : undefined;
    const error = result ? undefined : ParleyError.fromWire(o.error);
    switch (pc.kind) {
      case 'send':
        return this.#onSendReply(id, pc.cmid as string, result, error);
      case 'fill':
        this.#filling.delete(pc.conv as number);
        if (result && Array.isArray(result.events)) {
          for (const e of result.events as unknown as ParleyEvent[]) this.#offer(e);
        }
        return; // #onMessage persists and fills again
      case 'ack':
        return; // a refused ack changes nothing; the next one carries the positions again
      case 'user':
      case 'internal':
        if (result) pc.resolve?.(result);
        else pc.reject?.(error as ParleyError);
        return;
    }
  }

  // ----- the outbox on the wire ------------------------------------------------------------

  #flush(): void {
    if (this.#stopped || !this.#synced || !this.#link || !this.#outbox) return;
    const paused = this.#pausedUntil - Date.now();
    if (paused > 0) {
      // A timer can fire a millisecond before Date.now() reaches the end of the pause;
      // wait out the rest rather than leave the outbox paused with nothing to wake it.
      if (!this.#pauseTimer) this.#armPause(paused);
      return;
    }
    for (const e of this.#outbox.entries()) {
      if (this.#inflight.size >= (this.#window || this.opt.sendWindow)) break;
      if (this.#inflight.has(e.client_msg_id)) continue;
      const id = this.#request(sendRequest(e), { kind: 'send', cmid: e.client_msg_id });
      this.#inflight.set(e.client_msg_id, id);
    }
  }

  #onSendReply(id: number, cmid: string, result: JsonObject | undefined, error: ParleyError | undefined): void {
    const current = this.#inflight.get(cmid) === id;
    if (current) this.#inflight.delete(cmid);
    if (result) {
      const ack: SendAck = {
        conv: result.conv as number, seq: result.seq as number, id: result.id as string,
        ts: result.ts as number, client_msg_id: cmid, duplicate: result.duplicate === true,
      };
      if (this.#window) this.#window = this.#window * 2 >= this.opt.sendWindow ? 0 : this.#window * 2;
      void this.#settle(cmid, () => {
        this.#states.sent(cmid, ack.conv, ack.seq);
        this.emit('ack', ack);
      });
      return this.#flush();
    }
    const err = error as ParleyError;
    if (!current) return; // a stale refusal of a request already superseded
    if (err.transient) {
      // Keep it; pause the outbox (rate_limited: for retry_after_ms; otherwise the backoff's
      // next delay), then resend everything unacknowledged from the oldest, in order. Sends
      // behind a rate-limited one on this connection are refused too (protocol.md), so the
      // window restarts at 1 and doubles with each ack: a limited client draws a refusal
      // or two per pause, far from the server's abuse threshold (close 4005).
      const wait = err.code === 'rate_limited' && err.retryAfterMs !== undefined ? err.retryAfterMs : this.#backoff.nextDelay();
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + wait);
      this.#inflight.clear();
      this.#window = 1;
      this.#armPause(wait);
      return;
    }
    const conv = this.#outbox?.entries().find((e) => e.client_msg_id === cmid)?.conv ?? 0;
    void this.#settle(cmid, () => {
      this.#states.failed(cmid, conv);
      this.emit('sendFailed', { clientMsgId: cmid, conv, error: err });
    });
    this.#flush();
  }

  /** Flushes the outbox again in `ms` (replacing a pending pause timer). */
  #armPause(ms: number): void {
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = null;
      this.#flush();
    }, Math.min(ms, MAX_TIMER_MS));
  }

  /** Removes an entry from the outbox (and storage), then reports it, once. */
  async #settle(cmid: string, report: () => void): Promise<void> {
    if (!this.#outbox) return;
    let removed: boolean;
    try {
      removed = await this.#outbox.remove(cmid);
    } catch (err) {
      this.emit('error', new ParleyError('storage', `removing ${cmid} from the outbox failed: ${String(err)}`));
      removed = true;
    }
    if (!removed) return;
    report();
    this.emit('outbox', this.#outbox.size);
  }

  // ----- token refresh ---------------------------------------------------------------------

  #scheduleRefresh(): void {
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    if (this.#tokenExpires === undefined || this.#stopped) return;
    const left = this.#tokenExpires - Date.now();
    const at = left - Math.min(this.opt.refreshMarginMs, left / 2);
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      if (Date.now() < (this.#tokenExpires as number) - Math.min(this.opt.refreshMarginMs, left / 2) - 1000) {
        return this.#scheduleRefresh(); // the timer's range was capped: not yet
      }
      this.refreshToken().catch((err: unknown) => {
        const e = err instanceof ParleyError ? err : new ParleyError('internal', String(err));
        this.emit('error', e);
        // A server without token.refresh says `invalid`: do not ask again. Otherwise retry.
        if (e.code !== 'invalid' && e.code !== 'unauthenticated' && !this.#stopped) {
          this.#refreshTimer = setTimeout(() => this.#scheduleRefresh(), 60_000);
        }
      });
    }, Math.max(0, Math.min(at, MAX_TIMER_MS)));
  }
}
