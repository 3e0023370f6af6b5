// Scheduling of threads that gather work into batches (the storage writers and readers).
#pragma once

namespace parley {

// Puts the calling thread under SCHED_BATCH: the same share of CPU as any thread, but a
// wake-up does not preempt the thread running on its core. When the storage writer
// shares a core with an I/O thread (a server on one core, or more I/O threads than
// cores), the I/O thread then reads every ready socket before the writer runs, and one
// commit takes all of those writes instead of the first alone. On a core of its own the
// writer runs at once as before. The store's readers run under it for the same reason:
// they take up to 32 queued reads into one snapshot, and a reader woken by the first read
// of a burst (a connection storm's token checks) would take that one alone. Failure (a
// system without the policy) is ignored: it changes only how work is batched, never what
// is done.
void prefer_batching();

}  // namespace parley
