#include "store/sqlite/wal_syncer.hpp"
#include "core/thread_name.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace parley::sqlite {

wal_syncer::wal_syncer(flush_fn flush, std::function<void()> on_durable)
    : flush_(std::move(flush)), on_durable_(std::move(on_durable)) {
  thread_ = std::thread([this] { run(); });
}

wal_syncer::~wal_syncer() {
  stop();
}

namespace {

// Which file a path or descriptor names (device and inode), asked for without the file's
// times. A stat that returns the times marks them as read, and since Linux 6.13
// (multigrain timestamps) the next write to a file whose times were read stores a
// fine-grained mtime instead of one at the clock tick, which dirties the inode on nearly
// every commit; an fdatasync then also writes the inode (ext4 without a journal writes a
// dirty inode on every fsync). Asked for this way, the mtime moves once per tick (4 ms
// with HZ=250), and most flushes write the data and the cache flush alone.
struct file_id {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool operator==(const file_id&) const = default;
};

bool identify(int dirfd, const char* path, int flags, file_id& id) {
  struct statx sx {};
  if (::statx(dirfd, path, flags, STATX_INO, &sx) != 0) return false;
  id.dev = (static_cast<std::uint64_t>(sx.stx_dev_major) << 32) | sx.stx_dev_minor;
  id.ino = sx.stx_ino;
  return true;
}

}  // namespace

wal_syncer::flush_fn wal_syncer::fdatasync_of(std::string wal_path) {
  struct state {
    std::string path;
    int fd = -1;
    file_id opened;  // the file fd is open on (an open file's identity does not change)
    ~state() {
      if (fd >= 0) ::close(fd);
    }
  };
  auto s = std::make_shared<state>();
  s->path = std::move(wal_path);
  return [s]() -> bool {
    file_id by_path;
    if (!identify(AT_FDCWD, s->path.c_str(), 0, by_path)) {
      spdlog::critical("event=wal_flush_failed path=\"{}\" what=\"stat: {}\"", s->path,
                       std::strerror(errno));
      return false;
    }
    if (s->fd >= 0 && !(s->opened == by_path)) {
      ::close(s->fd);
      s->fd = -1;
    }
    if (s->fd < 0) {
      s->fd = ::open(s->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (s->fd >= 0 && !identify(s->fd, "", AT_EMPTY_PATH, s->opened)) {
        ::close(s->fd);
        s->fd = -1;
      }
    }
    if (s->fd < 0 || ::fdatasync(s->fd) != 0) {
      spdlog::critical("event=wal_flush_failed path=\"{}\" what=\"{}\"", s->path,
                       std::strerror(errno));
      return false;
    }
    return true;
  };
}

std::uint64_t wal_syncer::begin_commit() {
  return latest_.fetch_add(1) + 1;
}

void wal_syncer::end_commit(std::uint64_t ticket) {
  {
    std::lock_guard lk(mu_);
    ended_ = ticket;
  }
  work_cv_.notify_one();
}

void wal_syncer::wait_durable(std::uint64_t ticket) {
  if (durable_.load() >= ticket) return;
  std::unique_lock lk(mu_);
  durable_cv_.wait(lk, [&] { return durable_.load() >= ticket || finished_; });
}

void wal_syncer::stop() {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    stop_ = true;
  }
  work_cv_.notify_one();
  thread_.join();
}

void wal_syncer::run() {
  name_thread("parley-walsync");
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || ended_ > durable_.load(); });
    if (ended_ <= durable_.load()) {  // stopping, and everything is flushed
      finished_ = true;
      durable_cv_.notify_all();
      return;
    }
    auto target = ended_;
    lk.unlock();
    if (!flush_()) {
      // Which commits reached the disk is unknown: none may be acknowledged, and the
      // WAL must be read again from the file. Fail-stop.
      spdlog::critical("event=store_abort why=\"the WAL could not be flushed\"");
      std::abort();
    }
    lk.lock();
    durable_.store(target);
    durable_cv_.notify_all();
    lk.unlock();
    if (on_durable_) on_durable_();
    lk.lock();
  }
}

}  // namespace parley::sqlite
