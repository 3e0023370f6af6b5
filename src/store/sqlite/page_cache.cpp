#include "store/sqlite/page_cache.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>

namespace parley::sqlite {

namespace {

// SQLite's lock byte sits at 1 GiB (SQLite's default PENDING_BYTE): the page that holds it
// is never used for data, which is why a rebalance borrows its number.
constexpr std::uint64_t kPendingByte = 0x40000000;

sqlite3_pcache_methods2 inner_methods;  // pcache1's, read once at install
std::atomic<std::uint64_t> truncations{0};
std::atomic<std::uint64_t> passed_on{0};
std::atomic<std::uint64_t> temporary_renames{0};

// One connection's cache: SQLite calls a cache's methods from one thread at a time.
struct cache {
  sqlite3_pcache* inner = nullptr;
  unsigned temporary_key = 0;  // the lock byte's page at this page size
  unsigned max_key = 0;        // largest key created or renamed to, the temporary one aside
  bool temporary_held = false;
};

cache* of(sqlite3_pcache* p) {
  return reinterpret_cast<cache*>(p);
}

int init(void*) {
  return inner_methods.xInit(inner_methods.pArg);
}

void shutdown(void*) {
  if (inner_methods.xShutdown) inner_methods.xShutdown(inner_methods.pArg);
}

sqlite3_pcache* create(int page_size, int extra_size, int purgeable) {
  auto* c = new (std::nothrow) cache;
  if (!c) return nullptr;
  c->inner = inner_methods.xCreate(page_size, extra_size, purgeable);
  if (!c->inner) {
    delete c;
    return nullptr;
  }
  c->temporary_key =
      page_size > 0 ? static_cast<unsigned>(kPendingByte / static_cast<unsigned>(page_size) + 1)
                    : 0;
  return reinterpret_cast<sqlite3_pcache*>(c);
}

void cache_size(sqlite3_pcache* p, int pages) {
  inner_methods.xCachesize(of(p)->inner, pages);
}

int page_count(sqlite3_pcache* p) {
  return inner_methods.xPagecount(of(p)->inner);
}

sqlite3_pcache_page* fetch(sqlite3_pcache* p, unsigned key, int create_flag) {
  auto* c = of(p);
  auto* page = inner_methods.xFetch(c->inner, key, create_flag);
  // Only a fetch that may create a page can add a key; counting one that found its page
  // already there costs nothing but a compare.
  if (page && create_flag != 0) c->max_key = std::max(c->max_key, key);
  return page;
}

void unpin(sqlite3_pcache* p, sqlite3_pcache_page* page, int discard) {
  inner_methods.xUnpin(of(p)->inner, page, discard);
}

void rekey(sqlite3_pcache* p, sqlite3_pcache_page* page, unsigned old_key, unsigned new_key) {
  auto* c = of(p);
  inner_methods.xRekey(c->inner, page, old_key, new_key);
  if (old_key == c->temporary_key) c->temporary_held = false;
  if (new_key == c->temporary_key) {
    c->temporary_held = true;
    temporary_renames.fetch_add(1, std::memory_order_relaxed);
  } else {
    c->max_key = std::max(c->max_key, new_key);
  }
}

void truncate(sqlite3_pcache* p, unsigned limit) {
  auto* c = of(p);
  truncations.fetch_add(1, std::memory_order_relaxed);
  // Every page's key is at most max_key, or is the temporary key while one holds it.
  bool temporary_in_range = c->temporary_held && c->temporary_key >= limit;
  if (c->max_key < limit && !temporary_in_range) return;
  passed_on.fetch_add(1, std::memory_order_relaxed);
  inner_methods.xTruncate(c->inner, limit);
  if (limit > 0) c->max_key = std::min(c->max_key, limit - 1);
  if (c->temporary_key >= limit) c->temporary_held = false;
}

void destroy(sqlite3_pcache* p) {
  auto* c = of(p);
  inner_methods.xDestroy(c->inner);
  delete c;
}

void shrink(sqlite3_pcache* p) {
  if (inner_methods.xShrink) inner_methods.xShrink(of(p)->inner);
}

bool install() {
  sqlite3_pcache_methods2 m{};
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &m) != SQLITE_OK || !m.xCreate || !m.xFetch ||
      !m.xTruncate || !m.xRekey)
    return false;
  inner_methods = m;
  sqlite3_pcache_methods2 layer{};
  layer.iVersion = 1;  // pcache1's version: every member below
  layer.pArg = nullptr;
  layer.xInit = init;
  layer.xShutdown = shutdown;
  layer.xCreate = create;
  layer.xCachesize = cache_size;
  layer.xPagecount = page_count;
  layer.xFetch = fetch;
  layer.xUnpin = unpin;
  layer.xRekey = rekey;
  layer.xTruncate = truncate;
  layer.xDestroy = destroy;
  layer.xShrink = shrink;
  return sqlite3_config(SQLITE_CONFIG_PCACHE2, &layer) == SQLITE_OK;
}

}  // namespace

bool install_page_cache() {
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [] { installed = install(); });
  return installed;
}

page_cache_counters page_cache_stats() {
  return {truncations.load(std::memory_order_relaxed), passed_on.load(std::memory_order_relaxed),
          temporary_renames.load(std::memory_order_relaxed)};
}

}  // namespace parley::sqlite
