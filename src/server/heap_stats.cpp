#include "server/heap_stats.hpp"

#include <gnu/libc-version.h>
#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, present when the executable links jemalloc (Debian's build
// exports it unprefixed). Weak: without jemalloc the address is null.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

namespace parley {

namespace {

template <class T>
bool jemalloc_read(const char* name, T& out) {
  std::size_t len = sizeof(T);
  return mallctl(name, &out, &len, nullptr, 0) == 0 && len == sizeof(T);
}

}  // namespace

heap_stats read_heap_stats() {
  heap_stats s;
  if (mallctl != nullptr) {
    // Statistics are a snapshot taken when the epoch advances.
    std::uint64_t epoch = 1;
    std::size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len);
    const char* version = nullptr;
    std::size_t allocated = 0, resident = 0;
    s.allocator = std::string("jemalloc ") +
                  (jemalloc_read("version", version) && version ? version : "(unknown version)");
    if (jemalloc_read("stats.allocated", allocated)) s.allocated = allocated;
    if (jemalloc_read("stats.resident", resident)) s.resident = resident;
    return s;
  }
  s.allocator = std::string("glibc ") + gnu_get_libc_version();
  auto mi = mallinfo2();
  s.allocated = mi.uordblks + mi.hblkhd;  // in use from the arenas, plus mmapped chunks
  return s;
}

}  // namespace parley
