// Which memory allocator the process runs on, and what it holds, for /metrics.
//
// The `parley` executable links jemalloc (CMake option PARLEY_JEMALLOC, on by default; off
// in the sanitizer builds, whose runtimes replace malloc themselves). This module does not
// depend on that: it finds jemalloc's `mallctl` at run time (a weak symbol), and reports
// glibc's own figures when the process has no jemalloc.
#pragma once

#include <cstdint>
#include <string>

namespace parley {

struct heap_stats {
  std::string allocator;        // "jemalloc 5.3.0-..." or "glibc 2.36"
  std::uint64_t allocated = 0;  // bytes in live allocations
  std::uint64_t resident = 0;   // bytes of the heap in physical memory (0: not known)
};

// Reads the current figures. Thread-safe; costs a few microseconds (jemalloc refreshes its
// statistics on each call), so it is meant for a scrape, not a hot path.
heap_stats read_heap_stats();

}  // namespace parley
