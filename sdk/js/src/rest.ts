// Plain HTTP calls that need no connection: register and login (to get a token), file
// uploads, and any operation over POST /v1/rpc. Failures are ParleyErrors: the server's
// typed error, or `network` when no HTTP answer came.
import { ParleyError } from './errors.js';
import type { FetchFunction } from './link.js';
import type { JsonObject, Upload } from './types.js';

export interface HttpOptions {
  /** http(s)://host:port of the server. */
  server: string;
  fetch?: FetchFunction;
  token?: string;
}

export interface LoginResult {
  token: string;
  user: { id: number; handle: string };
  device: number;
  expires_ms: number;
}

function base(server: string): string {
  return server.replace(/\/+$/, '');
}

async function request<T>(o: HttpOptions, method: string, path: string, body?: BodyInit, json = true): Promise<T> {
  const f = o.fetch ?? fetch;
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (json && body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await f(base(o.server) + path, { method, headers, ...(body === undefined ? {} : { body }) });
  } catch (err) {
    throw new ParleyError('network', `${method} ${path}: ${String(err)}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ParleyError('internal', `${method} ${path}: HTTP ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const e = ParleyError.fromWire((parsed as { error?: unknown }).error);
    const retry = res.headers.get('retry-after');
    if (e.retryAfterMs === undefined && retry) {
      throw new ParleyError(e.code, e.message.replace(/^\w+: /, ''), e.field, Number(retry) * 1000);
    }
    throw e;
  }
  return parsed as T;
}

/** Creates an account. */
export function register(o: HttpOptions, handle: string, password: string): Promise<{ user: { id: number; handle: string } }> {
  return request(o, 'POST', '/v1/register', JSON.stringify({ handle, password }));
}

/** Logs in: a token for a new device. */
export function login(o: HttpOptions, handle: string, password: string): Promise<LoginResult> {
  return request(o, 'POST', '/v1/login', JSON.stringify({ handle, password }));
}

/** Uploads bytes (POST /v1/uploads); attach the result's id with a name to a message. */
export async function upload(o: HttpOptions, data: Blob | ArrayBuffer | Uint8Array): Promise<Upload> {
  const r = await request<{ upload: Upload }>(o, 'POST', '/v1/uploads', data as BodyInit, false);
  return r.upload;
}

/** Runs one operation over POST /v1/rpc and returns its result (or throws its error). */
export async function rpc<T = JsonObject>(o: HttpOptions, op: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = await request<{ result?: T; error?: unknown }>(o, 'POST', '/v1/rpc', JSON.stringify({ ...args, id: 1, op }));
  if (r.error !== undefined) throw ParleyError.fromWire(r.error);
  return r.result as T;
}
