#include "store/sqlite/wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace parley::sqlite {

namespace {

// Bytes kept before they are written even without a commit (a commit larger than this
// goes out in pieces of about this size).
constexpr std::size_t kBufferCap = 4u << 20;
// The largest write handed to the unix VFS at once (a multiple of the page size).
constexpr std::size_t kMaxWrite = 124u << 10;
// The WAL grows in steps of this many bytes of zeros, written ahead of the frames. The
// zeros are in the page cache until the next flush writes them with the commits' frames,
// so a step is paid by one flush: with 4 MiB, the flush after each step took 4 to 6 ms
// against 0.4 ms at the median, at 5,000 publishes/s in 100 rooms of 10 (one every
// 90 ms while the WAL grew), and the deliveries of those commits made the p99.
constexpr sqlite3_int64 kGrowStep = 256 << 10;
// A WAL frame header: page number, then the database size in pages for a commit frame
// (zero for every other frame), salts and checksums.
constexpr int kFrameHeaderBytes = 24;

std::atomic<std::uint64_t> g_appends{0};
std::atomic<std::uint64_t> g_file_writes{0};
std::atomic<std::uint64_t> g_zero_writes{0};

sqlite3_vfs* g_real = nullptr;

// The layout of every file the VFS opens: this header, then the unix VFS's own file
// object (at `real`), which does the I/O.
struct file {
  sqlite3_file base;       // pMethods: one of the tables below
  sqlite3_file* real;      // the underlying file
  file* wal;               // main database: its WAL file while open
  file* db;                // WAL: its main database file
  std::vector<char>* buf;  // WAL: pending contiguous bytes, starting at buf_off
  sqlite3_int64 buf_off;
  bool commit_next;              // WAL: the next write is the page of a commit frame
  sqlite3_int64 zeroed_to = -1;  // WAL: the file's bytes end here (-1: not known yet)
};

constexpr std::size_t kHeaderBytes = (sizeof(file) + 15) & ~std::size_t{15};

file* as_file(sqlite3_file* p) {
  return reinterpret_cast<file*>(p);
}
sqlite3_file* real_of(sqlite3_file* p) {
  return as_file(p)->real;
}

// Writes through the unix VFS in pieces below its limit (it writes at most 128 KiB - 1
// bytes per call and reports a longer write as a full disk).
int write_through(sqlite3_file* real, const char* data, std::size_t len, sqlite3_int64 off) {
  while (len > 0) {
    std::size_t n = std::min(len, kMaxWrite);
    g_file_writes.fetch_add(1, std::memory_order_relaxed);
    int rc = real->pMethods->xWrite(real, data, static_cast<int>(n), off);
    if (rc != SQLITE_OK) return rc;
    data += n;
    len -= n;
    off += static_cast<sqlite3_int64>(n);
  }
  return SQLITE_OK;
}

// Before frames are written past the end of the WAL file, the file is extended with
// zeros to kGrowStep beyond them. An fsync of a write into blocks that are already part of
// the file is a data flush; one that grows the file also commits the file system's
// journal (the new size and blocks), which took twice as long on this machine's disk
// (fdatasync of 16 KiB: 0.20 ms against 0.47 ms). Zeros after the last frame are what a
// WAL may hold anyway (SQLite reuses the file from its start after a checkpoint and stops
// reading at the first frame whose salt does not match), so they never become data.
int grow_ahead(file* f, sqlite3_int64 end) {
  if (f->zeroed_to < 0) {
    sqlite3_int64 size = 0;
    if (int rc = f->real->pMethods->xFileSize(f->real, &size); rc != SQLITE_OK) return rc;
    f->zeroed_to = size;
  }
  if (end <= f->zeroed_to) return SQLITE_OK;
  auto to = end + kGrowStep;
  static const std::vector<char> zeros(kMaxWrite, 0);
  for (auto off = end; off < to;) {
    auto n = static_cast<std::size_t>(std::min<sqlite3_int64>(to - off, kMaxWrite));
    g_zero_writes.fetch_add(1, std::memory_order_relaxed);
    if (int rc = f->real->pMethods->xWrite(f->real, zeros.data(), static_cast<int>(n), off);
        rc != SQLITE_OK)
      return rc;
    off += static_cast<sqlite3_int64>(n);
  }
  f->zeroed_to = to;
  return SQLITE_OK;
}

int flush(file* f) {
  if (!f->buf || f->buf->empty()) return SQLITE_OK;
  auto end = f->buf_off + static_cast<sqlite3_int64>(f->buf->size());
  int rc = grow_ahead(f, end);
  if (rc == SQLITE_OK) rc = write_through(f->real, f->buf->data(), f->buf->size(), f->buf_off);
  f->buf->clear();  // on failure SQLite rolls the transaction back; nothing to retry
  return rc;
}

// Methods that only forward to the underlying file.
int fwd_close(sqlite3_file* p) {
  return real_of(p)->pMethods->xClose(real_of(p));
}
int fwd_read(sqlite3_file* p, void* b, int n, sqlite3_int64 off) {
  return real_of(p)->pMethods->xRead(real_of(p), b, n, off);
}
int fwd_write(sqlite3_file* p, const void* b, int n, sqlite3_int64 off) {
  return real_of(p)->pMethods->xWrite(real_of(p), b, n, off);
}
int fwd_truncate(sqlite3_file* p, sqlite3_int64 size) {
  return real_of(p)->pMethods->xTruncate(real_of(p), size);
}
int fwd_sync(sqlite3_file* p, int flags) {
  return real_of(p)->pMethods->xSync(real_of(p), flags);
}
int fwd_file_size(sqlite3_file* p, sqlite3_int64* size) {
  return real_of(p)->pMethods->xFileSize(real_of(p), size);
}
int fwd_lock(sqlite3_file* p, int l) {
  return real_of(p)->pMethods->xLock(real_of(p), l);
}
int fwd_unlock(sqlite3_file* p, int l) {
  return real_of(p)->pMethods->xUnlock(real_of(p), l);
}
int fwd_check_reserved(sqlite3_file* p, int* out) {
  return real_of(p)->pMethods->xCheckReservedLock(real_of(p), out);
}
int fwd_file_control(sqlite3_file* p, int op, void* arg) {
  return real_of(p)->pMethods->xFileControl(real_of(p), op, arg);
}
int fwd_sector_size(sqlite3_file* p) {
  return real_of(p)->pMethods->xSectorSize(real_of(p));
}
int fwd_device_characteristics(sqlite3_file* p) {
  return real_of(p)->pMethods->xDeviceCharacteristics(real_of(p));
}
int fwd_shm_map(sqlite3_file* p, int pg, int pgsz, int extend, void volatile** pp) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion < 2 || !r->pMethods->xShmMap) return SQLITE_IOERR_SHMMAP;
  return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}
int fwd_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion < 2 || !r->pMethods->xShmLock) return SQLITE_IOERR_SHMLOCK;
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void fwd_shm_barrier(sqlite3_file* p) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion >= 2 && r->pMethods->xShmBarrier) r->pMethods->xShmBarrier(r);
}
int fwd_shm_unmap(sqlite3_file* p, int del) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion < 2 || !r->pMethods->xShmUnmap) return SQLITE_OK;
  return r->pMethods->xShmUnmap(r, del);
}
int fwd_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** pp) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion < 3 || !r->pMethods->xFetch) {
    *pp = nullptr;
    return SQLITE_OK;
  }
  return r->pMethods->xFetch(r, off, n, pp);
}
int fwd_unfetch(sqlite3_file* p, sqlite3_int64 off, void* page) {
  auto* r = real_of(p);
  if (r->pMethods->iVersion < 3 || !r->pMethods->xUnfetch) return SQLITE_OK;
  return r->pMethods->xUnfetch(r, off, page);
}

constexpr sqlite3_io_methods kPlainMethods = {3,
                                              fwd_close,
                                              fwd_read,
                                              fwd_write,
                                              fwd_truncate,
                                              fwd_sync,
                                              fwd_file_size,
                                              fwd_lock,
                                              fwd_unlock,
                                              fwd_check_reserved,
                                              fwd_file_control,
                                              fwd_sector_size,
                                              fwd_device_characteristics,
                                              fwd_shm_map,
                                              fwd_shm_lock,
                                              fwd_shm_barrier,
                                              fwd_shm_unmap,
                                              fwd_fetch,
                                              fwd_unfetch};

// Main database files: the barrier before SQLite publishes a commit in the wal-index
// writes the WAL's pending bytes first, so no reader can find a frame not yet in the file.
int db_close(sqlite3_file* p) {
  if (auto* w = as_file(p)->wal) w->db = nullptr;
  return fwd_close(p);
}
void db_shm_barrier(sqlite3_file* p) {
  if (auto* w = as_file(p)->wal) {
    if (flush(w) != SQLITE_OK) {
      // The barrier cannot report an error, and going on would publish frames that are
      // not in the file. Unreachable in practice: a commit's frames were written when
      // its commit frame was appended, where a failure is returned to SQLite.
      std::fputs("parley: writing the SQLite WAL failed at a barrier; stopping\n", stderr);
      std::abort();
    }
  }
  fwd_shm_barrier(p);
}

constexpr sqlite3_io_methods db_methods() {
  auto m = kPlainMethods;
  m.xClose = db_close;
  m.xShmBarrier = db_shm_barrier;
  return m;
}
constexpr sqlite3_io_methods kDbMethods = db_methods();

// WAL files: contiguous appends are buffered.
int wal_close(sqlite3_file* p) {
  auto* f = as_file(p);
  int frc = flush(f);
  if (f->db) f->db->wal = nullptr;
  delete f->buf;
  f->buf = nullptr;
  int rc = fwd_close(p);
  return frc != SQLITE_OK ? frc : rc;
}
int wal_read(sqlite3_file* p, void* b, int n, sqlite3_int64 off) {
  if (int rc = flush(as_file(p)); rc != SQLITE_OK) return rc;
  return fwd_read(p, b, n, off);
}
int wal_write(sqlite3_file* p, const void* b, int n, sqlite3_int64 off) {
  auto* f = as_file(p);
  auto& buf = *f->buf;
  g_appends.fetch_add(1, std::memory_order_relaxed);
  auto len = static_cast<std::size_t>(n);
  // Out of order, or no room: what is pending goes first.
  if (off != f->buf_off + static_cast<sqlite3_int64>(buf.size()) || buf.size() + len > kBufferCap) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
  }
  if (len >= kBufferCap) {
    f->commit_next = false;
    f->zeroed_to = -1;  // written past what grow_ahead knows; ask the file again
    return write_through(f->real, static_cast<const char*>(b), len, off);
  }
  if (buf.empty()) f->buf_off = off;
  const auto* bytes = static_cast<const char*>(b);
  buf.insert(buf.end(), bytes, bytes + len);
  bool commit = f->commit_next;
  f->commit_next = false;
  if (n == kFrameHeaderBytes) {
    const auto* h = reinterpret_cast<const unsigned char*>(bytes);
    std::uint32_t db_pages = (std::uint32_t{h[4]} << 24) | (std::uint32_t{h[5]} << 16) |
                             (std::uint32_t{h[6]} << 8) | std::uint32_t{h[7]};
    f->commit_next = db_pages != 0;
  }
  return commit ? flush(f) : SQLITE_OK;
}
int wal_truncate(sqlite3_file* p, sqlite3_int64 size) {
  auto* f = as_file(p);
  if (int rc = flush(f); rc != SQLITE_OK) return rc;
  f->zeroed_to = -1;
  return fwd_truncate(p, size);
}
int wal_sync(sqlite3_file* p, int flags) {
  if (int rc = flush(as_file(p)); rc != SQLITE_OK) return rc;
  return fwd_sync(p, flags);
}
int wal_file_size(sqlite3_file* p, sqlite3_int64* size) {
  if (int rc = flush(as_file(p)); rc != SQLITE_OK) return rc;
  return fwd_file_size(p, size);
}
int wal_file_control(sqlite3_file* p, int op, void* arg) {
  if (int rc = flush(as_file(p)); rc != SQLITE_OK) return rc;
  return fwd_file_control(p, op, arg);
}
int wal_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** pp) {
  if (int rc = flush(as_file(p)); rc != SQLITE_OK) return rc;
  return fwd_fetch(p, off, n, pp);
}

constexpr sqlite3_io_methods wal_methods() {
  auto m = kPlainMethods;
  m.xClose = wal_close;
  m.xRead = wal_read;
  m.xWrite = wal_write;
  m.xTruncate = wal_truncate;
  m.xSync = wal_sync;
  m.xFileSize = wal_file_size;
  m.xFileControl = wal_file_control;
  m.xFetch = wal_fetch;
  return m;
}
constexpr sqlite3_io_methods kWalMethods = wal_methods();

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  auto* f = new (p) file{};
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(p) + kHeaderBytes);
  int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    f->base.pMethods = nullptr;  // SQLite will not call xClose
    return rc;
  }
  if (flags & SQLITE_OPEN_MAIN_DB) {
    f->base.pMethods = &kDbMethods;
  } else if ((flags & SQLITE_OPEN_WAL) && name) {
    f->base.pMethods = &kWalMethods;
    f->buf = new (std::nothrow) std::vector<char>();
    if (!f->buf) {
      f->real->pMethods->xClose(f->real);
      f->base.pMethods = nullptr;
      return SQLITE_NOMEM;
    }
    auto* d = sqlite3_database_file_object(name);
    if (d && d->pMethods == &kDbMethods) {
      f->db = as_file(d);
      f->db->wal = f;
    }
  } else {
    f->base.pMethods = &kPlainMethods;
  }
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* vfs_dl_open(sqlite3_vfs*, const char* name) {
  return g_real->xDlOpen(g_real, name);
}
void vfs_dl_error(sqlite3_vfs*, int n, char* out) {
  g_real->xDlError(g_real, n, out);
}
void (*vfs_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void vfs_dl_close(sqlite3_vfs*, void* h) {
  g_real->xDlClose(g_real, h);
}
int vfs_randomness(sqlite3_vfs*, int n, char* out) {
  return g_real->xRandomness(g_real, n, out);
}
int vfs_sleep(sqlite3_vfs*, int us) {
  return g_real->xSleep(g_real, us);
}
int vfs_current_time(sqlite3_vfs*, double* out) {
  return g_real->xCurrentTime(g_real, out);
}
int vfs_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

sqlite3_vfs g_vfs;

}  // namespace

bool register_wal_vfs() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (!g_real || g_real->iVersion < 2) return;
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(kHeaderBytes) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = kWalVfsName;
    g_vfs.xOpen = vfs_open;
    g_vfs.xDelete = vfs_delete;
    g_vfs.xAccess = vfs_access;
    g_vfs.xFullPathname = vfs_full_pathname;
    g_vfs.xDlOpen = vfs_dl_open;
    g_vfs.xDlError = vfs_dl_error;
    g_vfs.xDlSym = vfs_dl_sym;
    g_vfs.xDlClose = vfs_dl_close;
    g_vfs.xRandomness = vfs_randomness;
    g_vfs.xSleep = vfs_sleep;
    g_vfs.xCurrentTime = vfs_current_time;
    g_vfs.xGetLastError = vfs_get_last_error;
    g_vfs.xCurrentTimeInt64 = vfs_current_time_int64;
    ok = sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
  });
  return ok;
}

wal_vfs_counters wal_vfs_stats() {
  return {g_appends.load(std::memory_order_relaxed), g_file_writes.load(std::memory_order_relaxed),
          g_zero_writes.load(std::memory_order_relaxed)};
}

}  // namespace parley::sqlite
