// SQLite's own page cache (pcache1), with the end of a write transaction made cheap again.
//
// At the end of every write transaction the pager truncates its cache to the database's
// size, and pcache1 scans its hash table for pages past the end if its largest key ever
// used is past the end. When a B-tree rebalance puts the new pages of a split in
// ascending order, it swaps two pages' numbers through a temporary one: the page of the
// locking byte (page 262,145 with 4 KiB pages). From then on pcache1's largest key is that
// page, and the next truncation scans every bucket and page of the cache (16,384 of each
// with a 64 MiB cache), though no page is past the end: the temporary key was used and
// left within the same rebalance.
//
// This layer passes every call to pcache1 and keeps, per cache, the largest key of a
// page it created or renamed (leaving the temporary one out) and whether a page holds
// the temporary key now. A truncation is passed on only if a page can be at or past
// its limit; otherwise there is nothing to drop, and it returns at once.
//
// Contract: install_page_cache() must run before SQLite is initialized (before the first
// connection opens; it is called by the same once-only setup as the other process-wide
// settings) and is idempotent. It returns false (and changes nothing) if SQLite refuses
// the configuration.
#pragma once

#include <cstdint>

namespace parley::sqlite {

bool install_page_cache();

// Since the process started: the truncations the pager asked for, those that had a page
// that could be at or past the limit and went to pcache1 (the others cost nothing), and the
// pages renamed to the lock byte's page number (each left pcache1 with a key past the end).
struct page_cache_counters {
  std::uint64_t truncations = 0;
  std::uint64_t passed_on = 0;
  std::uint64_t temporary_renames = 0;
};
page_cache_counters page_cache_stats();

}  // namespace parley::sqlite
