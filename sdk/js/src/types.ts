// Protocol objects as they travel on the wire (docs/protocol.md). Fields the server may
// add later are allowed: clients must ignore what they do not know.

/** A JSON value as parsed from a frame. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object (request arguments, results). */
export type JsonObject = { [key: string]: Json };

/** An attachment as carried by events and message views. */
export interface Attachment {
  id: string;
  size: number;
  type: string;
  name: string;
  width?: number;
  height?: number;
}

/** The reference to an upload that `send` takes. */
export interface AttachmentRef {
  id: string;
  name?: string;
}

/** One event of a conversation's log ("Event object"). */
export interface ParleyEvent {
  conv: number;
  seq: number;
  id: string;
  ts: number;
  type: string;
  sender: number;
  client_msg_id?: string;
  data: EventData;
}

/** The `data` of an event; which fields are present depends on `type`. */
export interface EventData {
  text?: string;
  reply_to?: number;
  thread?: number;
  mentions?: number[];
  attachments?: Attachment[];
  deleted?: boolean;
  msg?: number;
  emoji?: string;
  title?: string;
  kind?: 'direct' | 'group';
  members?: Member[];
  user?: { id: number; handle: string };
  role?: Role;
  by?: number;
  [key: string]: Json | undefined | Attachment[] | Member[] | { id: number; handle: string };
}

export type Role = 'owner' | 'admin' | 'member';

export interface Member {
  id: number;
  handle: string;
  role: Role;
  joined_seq: number;
}

/** A conversation object as conv.list / conv.get return it, plus unread counts. */
export interface Conversation {
  id: number;
  kind: 'direct' | 'group';
  title?: string;
  last_seq: number;
  first_seq?: number;
  created_ms?: number;
  role?: Role;
  joined_seq?: number;
  left_seq?: number;
  read_seq?: number;
  unread?: number;
  mentions?: number;
  members?: Member[];
}

/** A message in its current state (the `messages` and `thread` views). */
export interface MessageView {
  seq: number;
  sender: number;
  ts: number;
  text?: string;
  edited_ts?: number;
  deleted?: boolean;
  deleted_ts?: number;
  mentions?: number[];
  reply_to?: { seq: number; sender?: number; text?: string; deleted?: boolean };
  thread?: number;
  reactions?: { emoji: string; count: number; users: number[] }[];
  replies?: { count: number; last_ts: number; participants: number[]; following: boolean };
  attachments?: Attachment[];
}

/** The acknowledgement of a stored message (`send` result). */
export interface SendAck {
  conv: number;
  seq: number;
  id: string;
  ts: number;
  client_msg_id: string;
  duplicate: boolean;
}

/** One `search` result. */
export interface SearchResult {
  conv: number;
  seq: number;
  sender: number;
  ts: number;
  thread?: number;
  snippet: { text: string; hit?: boolean }[];
}

/** A page of `history`, `messages` or `thread`: at most one of before / after. */
export interface Page {
  before?: number;
  after?: number;
  limit?: number;
}

/** A `search` request; every field but `query` is optional. */
export interface SearchRequest {
  query: string;
  conv?: number;
  sender?: string;
  before?: number;
  after?: number;
  limit?: number;
  cursor?: string;
}

/** A user's presence as notices and presence.get report it. */
export interface PresenceState {
  user: number;
  state: 'online' | 'away' | 'offline';
  last_seen?: number;
}

/** An upload's description (POST /v1/uploads). */
export interface Upload {
  id: string;
  size: number;
  type: string;
  width?: number;
  height?: number;
}
