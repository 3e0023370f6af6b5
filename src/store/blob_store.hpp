// Uploaded content on disk, addressed by SHA-256: <dir>/objects/<first 2 hex>/<64 hex>.
// An upload streams into a temporary file (<dir>/tmp) while it is hashed; finish() makes
// it durable (fsync) and sniffs its type; install() moves it into place, or drops it when
// the same content is already there (deduplication). The database (store.hpp) says which
// objects exist for users; this class only holds the bytes.
//
// Thread safety: begin(), install(), remove() and path() may be called from any thread.
// install() and remove() of the same id must not run concurrently: Parley runs both on
// the store's writer (after the commit that records or forgets the upload), which orders
// them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley {

class blob_store {
 public:
  // Creates the directories; removes temporary files a previous run left behind.
  explicit blob_store(std::string dir);

  // One upload in progress. Destroying it before finish() removes the temporary file.
  class writer {
   public:
    ~writer();
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;
    result<unit> write(const void* data, std::size_t n);
    std::uint64_t size() const { return size_; }
    // Flushes to disk and closes; the result carries the id, size and sniffed type. The
    // temporary file stays until install() or discard().
    result<upload_info> finish();
    const std::string& temp_path() const { return path_; }

   private:
    friend class blob_store;
    writer(int fd, std::string path);
    int fd_ = -1;
    std::string path_;
    std::uint64_t size_ = 0;
    bool finished_ = false;
    struct hash_state;
    std::unique_ptr<hash_state> hash_;
  };

  result<std::unique_ptr<writer>> begin();
  // Moves a finished temporary file into place as object `id` (durably), or removes it
  // when the object already exists.
  result<unit> install(const std::string& temp_path, const std::string& id);
  void discard(const std::string& temp_path);
  // Removes object `id`; a missing object is not an error.
  void remove(const std::string& id);
  std::string path(const std::string& id) const;
  bool exists(const std::string& id) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace parley
