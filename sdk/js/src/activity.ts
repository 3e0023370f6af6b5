// Who is typing where, and contacts' presence, from the typing and presence notices
// (docs/protocol.md, "Typing" and "Presence"). A typing start is over after its
// expires_ms unless another start comes; a stop ends it at once.
//
// Contract: `typingChanged(conv, users)` runs after every change with the users now typing
// in conv; `presenceChanged(p)` for each user whose presence was reported. clear() forgets
// typing (on a reconnect the server sends what is still current).
import type { PresenceState } from './types.js';

export class Activity {
  #typing = new Map<number, Map<number, ReturnType<typeof setTimeout>>>();
  #presence = new Map<number, PresenceState>();

  constructor(
    private readonly typingChanged: (conv: number, users: number[]) => void,
    private readonly presenceChanged: (p: PresenceState) => void,
  ) {}

  typingIn(conv: number): number[] {
    return [...(this.#typing.get(conv)?.keys() ?? [])];
  }

  presenceOf(user: number): PresenceState | undefined {
    return this.#presence.get(user);
  }

  onTyping(conv: number, user: number, typing: boolean, expiresMs: number): void {
    let m = this.#typing.get(conv);
    const old = m?.get(user);
    if (old !== undefined) clearTimeout(old);
    if (typing) {
      if (!m) this.#typing.set(conv, (m = new Map()));
      m.set(user, setTimeout(() => this.onTyping(conv, user, false, 0), expiresMs > 0 ? expiresMs : 5000));
    } else {
      m?.delete(user);
      if (old === undefined) return;
    }
    this.typingChanged(conv, this.typingIn(conv));
  }

  onPresence(p: PresenceState): void {
    this.#presence.set(p.user, p);
    this.presenceChanged(p);
  }

  clear(): void {
    for (const [conv, m] of this.#typing) {
      for (const t of m.values()) clearTimeout(t);
      m.clear();
      this.typingChanged(conv, []);
    }
    this.#typing.clear();
  }
}
