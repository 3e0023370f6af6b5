// Positions as the HTTP transports' cursor (docs/protocol.md, "Server-Sent Events and long
// polling"): `conv.seq` pairs joined by `-` in ascending conversation order; "all" for an
// empty map (replay every conversation from the join); "" for none (from now on).

export type Since = ReadonlyMap<number, number> | null;

export function cursorOf(since: Since): string {
  if (since === null) return '';
  if (since.size === 0) return 'all';
  return [...since.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([c, s]) => `${c}.${s}`)
    .join('-');
}

/** The `since` object of a WebSocket `sync`, or undefined for "from now on". */
export function sinceObject(since: Since): Record<string, number> | undefined {
  if (since === null) return undefined;
  const o: Record<string, number> = {};
  for (const [c, s] of since) o[String(c)] = s;
  return o;
}
