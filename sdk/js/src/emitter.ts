// A small typed event emitter. `Events` maps each event name to its payload type, so
// `on('state', (s) => ...)` is checked at compile time.
//
// Contract: listeners run synchronously, in registration order, on the emitting call. A
// listener that throws does not stop the others; the error goes to `onListenerError`
// (console.error by default). `on` returns a function that removes the listener.

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>();
  onListenerError: (err: unknown) => void = (err) => console.error('parley: a listener threw', err);

  on<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => this.off(name, fn);
  }

  once<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(name, (p) => {
      off();
      fn(p);
    });
    return off;
  }

  off<K extends keyof Events>(name: K, fn: Listener<Events[K]>): void {
    this.#listeners.get(name)?.delete(fn as Listener<never>);
  }

  protected emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(payload);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
