// Removes uploads that no message carries once their grace period has passed: at start and
// then every `interval`. The database forgets them in a write (store::collect_uploads);
// the bytes are removed after that commit, on the writer, which orders the removal with
// the installation of a new upload of the same content (service::put_upload).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

#include "store/blob_store.hpp"
#include "store/store.hpp"

namespace parley {

class upload_gc : public std::enable_shared_from_this<upload_gc> {
 public:
  upload_gc(boost::asio::io_context& io, store& st, blob_store& blobs,
            std::chrono::milliseconds interval, std::chrono::milliseconds grace);
  // Starts the rounds (call once, on a shared_ptr).
  void start();

 private:
  void schedule(std::chrono::milliseconds delay);
  void round();

  boost::asio::io_context& io_;
  store& st_;
  blob_store& blobs_;
  std::chrono::milliseconds interval_, grace_;
  boost::asio::steady_timer timer_;
};

}  // namespace parley
