// A SQLite VFS that coalesces the writes of a transaction's WAL frames.
//
// SQLite appends each frame of a commit to the WAL in two writes (the 24-byte frame
// header, then the page), so a commit that dirtied 400 pages cost 800 `pwrite` calls.
// This VFS ("parley", layered over the default "unix" VFS) keeps contiguous appends to a
// WAL file in one buffer per file and writes it with one call when the transaction's
// commit frame has been appended, and before anything that must see the bytes in the file:
// a read, sync, truncate, size query or file control on the WAL, and a shared-memory
// barrier on its database (SQLite publishes a commit to other connections in the
// wal-index only after that barrier). A write that is not contiguous with the buffer
// writes the buffer first, so the file sees writes in SQLite's order. Before frames go
// past the end of the file, it is extended with 256 KiB of zeros beyond them, so that the
// fsync of a commit is a data flush and not also a file-system journal commit for the new
// size. Every other file
// (the database, temporary files) is the unix VFS's own.
//
// Contract: register_wal_vfs() is idempotent and thread-safe; connections opened with
// the VFS name kWalVfsName use it. A failed coalesced write is returned to SQLite as
// the error of the write or sync that caused it, like a failed write without the VFS.
#pragma once

#include <cstdint>

namespace parley::sqlite {

inline constexpr const char* kWalVfsName = "parley";

// Registers the VFS (not as the default). Returns false if SQLite has no default VFS.
bool register_wal_vfs();

// Writes made to WAL files through the VFS, as calls to the underlying VFS, since the
// process started: what the coalescing saves is visible in tests.
struct wal_vfs_counters {
  std::uint64_t appends = 0;      // xWrite calls SQLite made on WAL files
  std::uint64_t file_writes = 0;  // writes of those bytes to the underlying files
  std::uint64_t zero_writes = 0;  // writes of zeros that grow a WAL file ahead of its frames
};
wal_vfs_counters wal_vfs_stats();

}  // namespace parley::sqlite
