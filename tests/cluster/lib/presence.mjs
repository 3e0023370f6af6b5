// What a WsClient (tests/node/lib/client.mjs) last heard of a user's presence: the state in
// the latest presence notice naming the user, whether a change ({"user","state"}) or the
// list a session gets after sync ({"users":[...]}); undefined if none named them.
export function presenceOf(client, id) {
  let state;
  for (const n of client.stateNotices) {
    if (n.notice !== 'presence') continue;
    if (Array.isArray(n.users)) state = n.users.find((x) => x.user === id)?.state ?? state;
    else if (n.user === id) state = n.state;
  }
  return state;
}
