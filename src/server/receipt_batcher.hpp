// Collects receipt changes (service_options::on_receipt) and sends them to the members of
// each conversation as one notice per conversation per interval:
// {"notice":"receipts","conv":C,"thread":T?,"delivered":{"<user>":seq},"read":{"<user>":seq}}.
// A user's many acks within an interval cost one entry; a busy group costs one frame per
// interval, encoded once and shared by every member. Read positions of users who keep
// them private are left out (their own devices hear them as "read" notices).
// Acknowledgements (op ack) are stored here too, in one write per interval rather than one
// per ack: a crash loses at most an interval of delivered positions, which only
// under-reports delivery until the device's next ack. Lock order: the mutex is a leaf.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "bus/bus.hpp"
#include "core/service.hpp"
#include "store/store.hpp"

namespace parley {

class receipt_batcher : public std::enable_shared_from_this<receipt_batcher> {
 public:
  receipt_batcher(boost::asio::io_context& io, store& st, bus& b,
                  std::chrono::milliseconds interval);
  void start();
  // Any thread.
  void add(const receipt_change& c);
  // An acknowledged (validated) delivered position: stored with the others of the interval
  // in one write, then announced if the user's position moved.
  void add_delivered(device_id d, user_id u, conv_id c, seq_t seq);

 private:
  struct pending {
    std::map<user_id, seq_t> delivered, read;
  };
  void schedule();
  void flush();

  store& st_;
  bus& bus_;
  std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::map<std::pair<conv_id, seq_t>, pending> pending_;  // by (conv, thread root)
  std::map<std::pair<device_id, conv_id>, std::pair<user_id, seq_t>> delivered_;  // to store
};

}  // namespace parley
