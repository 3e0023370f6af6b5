// Scheduling of threads that gather work into batches (the storage writers).
#pragma once

namespace parley {

// Puts the calling thread under SCHED_BATCH: the same share of CPU as any thread, but a
// wake-up does not preempt the thread running on its core. When the storage writer
// shares a core with an I/O thread (a server on one core, or more I/O threads than
// cores), the I/O thread then reads every ready socket before the writer runs, and one
// commit takes all of those writes instead of the first alone. On a core of its own the
// writer runs at once as before. Failure (a system without the policy) is ignored: it
// changes only how work is batched, never what is done.
void prefer_batching();

}  // namespace parley
