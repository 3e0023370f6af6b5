#include "server/upload_gc.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "core/service.hpp"

namespace parley {

namespace {
constexpr std::size_t kBatch = 1000;  // uploads forgotten per transaction
}  // namespace

upload_gc::upload_gc(boost::asio::io_context& io, store& st, blob_store& blobs,
                     std::chrono::milliseconds interval, std::chrono::milliseconds grace)
    : io_(io), st_(st), blobs_(blobs), interval_(interval), grace_(grace), timer_(io) {}

void upload_gc::start() {
  schedule(std::chrono::milliseconds(0));
}

void upload_gc::schedule(std::chrono::milliseconds delay) {
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->round();
  });
}

void upload_gc::round() {
  auto ids = std::make_shared<std::vector<std::string>>();
  auto cutoff = now_ms() - grace_.count();
  st_.write(
      [ids, cutoff](write_txn& t) {
        *ids = t.collect_uploads(cutoff, kBatch);
        return error{errc::ok, {}, {}, 0};
      },
      [self = shared_from_this(), ids](const error& e) {
        // On the writer, after the commit.
        if (e.code == errc::ok)
          for (const auto& id : *ids) self->blobs_.remove(id);
        boost::asio::post(self->io_, [self, ids, e] {
          if (e.code != errc::ok)
            spdlog::warn("event=upload_gc_failed what=\"{}\"", e.message);
          else if (!ids->empty())
            spdlog::info("event=uploads_removed count={}", ids->size());
          bool more = e.code == errc::ok && ids->size() == kBatch;
          self->schedule(more ? std::chrono::milliseconds(0) : self->interval_);
        });
      });
}

}  // namespace parley
