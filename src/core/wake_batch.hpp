// Defers the cross-thread wake-ups one thread makes while a scope is open, and makes them
// when the outermost scope closes.
//
// Why: a thread that hands work to another thread one item at a time (the storage writer
// running a committed batch's done calls, each publishing events and a reply) wakes the
// receiver at the first item. On a busy core the receiver may then run at once and
// handle that item alone, and the rest in further rounds: one socket write per item
// instead of one per batch. Inside a scope the handing over goes on as before (the items
// are queued at once, in order); only the wake-up waits until the batch is complete.
//
// Contract: defer() runs nothing itself. It returns false when no scope is open on this
// thread, and the caller then wakes the receiver at once. A deferred wake-up must be safe
// to run after the items it announces have already been taken by a receiver that woke for
// another reason (a drain that finds its inbox empty is harmless). Wake-ups run on the
// thread that closes the scope, in the order they were deferred, and must not throw.
#pragma once

#include <functional>

namespace parley {

class wake_batch {
 public:
  wake_batch();
  ~wake_batch();
  wake_batch(const wake_batch&) = delete;
  wake_batch& operator=(const wake_batch&) = delete;

  static bool defer(std::function<void()> wake);
};

}  // namespace parley
