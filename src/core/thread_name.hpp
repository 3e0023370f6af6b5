// Names for the server's threads, so that `top -H`, `perf` and gdb tell them apart.
#pragma once

namespace parley {

// Names the calling thread ("parley-writer"). Linux keeps 15 characters; a longer name is
// cut there. Failure is ignored: a name changes nothing the thread does.
void name_thread(const char* name);

}  // namespace parley
