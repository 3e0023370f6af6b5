#include "store/blob_store.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/crypto.hpp"
#include "core/sniff.hpp"

namespace parley {

namespace fs = std::filesystem;

namespace {

error io_error(const std::string& what) {
  return make_error(errc::internal, what + ": " + std::strerror(errno));
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

struct blob_store::writer::hash_state {
  crypto_hash_sha256_state st;
};

blob_store::blob_store(std::string dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_ + "/objects");
  fs::create_directories(dir_ + "/tmp");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/tmp", ec)) fs::remove(e.path(), ec);
}

std::string blob_store::path(const std::string& id) const {
  return dir_ + "/objects/" + id.substr(0, 2) + "/" + id;
}

bool blob_store::exists(const std::string& id) const {
  struct stat st;
  return ::stat(path(id).c_str(), &st) == 0;
}

result<std::unique_ptr<blob_store::writer>> blob_store::begin() {
  std::string p = dir_ + "/tmp/" + random_hex_id();
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create an upload file");
  return std::unique_ptr<writer>(new writer(fd, std::move(p)));
}

blob_store::writer::writer(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), hash_(std::make_unique<hash_state>()) {
  crypto_hash_sha256_init(&hash_->st);
}

blob_store::writer::~writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(path_.c_str());
}

result<unit> blob_store::writer::write(const void* data, std::size_t n) {
  crypto_hash_sha256_update(&hash_->st, static_cast<const unsigned char*>(data), n);
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    auto w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write the upload");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    size_ += static_cast<std::uint64_t>(w);
  }
  return unit{};
}

result<upload_info> blob_store::writer::finish() {
  if (::fsync(fd_) != 0) return io_error("cannot flush the upload");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&hash_->st, digest);
  upload_info u;
  static const char* hex = "0123456789abcdef";
  for (auto b : digest) {
    u.id += hex[b >> 4];
    u.id += hex[b & 15];
  }
  u.size = static_cast<std::int64_t>(size_);
  int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) return io_error("cannot read the upload back");
  auto s = sniff_content(
      [rfd](std::uint64_t off, unsigned char* buf, std::size_t n) -> std::size_t {
        auto r = ::pread(rfd, buf, n, static_cast<off_t>(off));
        return r < 0 ? 0 : static_cast<std::size_t>(r);
      },
      size_);
  ::close(rfd);
  u.type = s.type;
  u.width = s.width;
  u.height = s.height;
  ::close(fd_);
  fd_ = -1;
  finished_ = true;
  return u;
}

result<unit> blob_store::install(const std::string& temp_path, const std::string& id) {
  std::string dest = path(id);
  if (exists(id)) {
    ::unlink(temp_path.c_str());
    return unit{};
  }
  std::string sub = dir_ + "/objects/" + id.substr(0, 2);
  if (::mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return io_error("cannot create " + sub);
  if (::rename(temp_path.c_str(), dest.c_str()) != 0) return io_error("cannot store the upload");
  fsync_dir(sub);
  return unit{};
}

void blob_store::discard(const std::string& temp_path) {
  ::unlink(temp_path.c_str());
}

void blob_store::remove(const std::string& id) {
  ::unlink(path(id).c_str());
}

}  // namespace parley
