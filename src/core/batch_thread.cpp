#include "core/batch_thread.hpp"

#include <pthread.h>
#include <sched.h>

namespace parley {

void prefer_batching() {
#ifdef SCHED_BATCH
  sched_param p{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
#endif
}

}  // namespace parley
