// Rate limits across the nodes of a cluster. Every token this node's limiter takes is
// counted per class and key; every 100 ms the counts go to the other nodes in one control
// message (topic "rates": lines "<class index>\t<key>\t<count>"), and what the others took
// is debited from this node's buckets. A user, an account or an address thus gets the
// configured rate from the cluster as a whole, not once per node; while a batch is in
// flight (100 ms plus the bus's latency) the nodes together may allow up to one burst
// more, which the debit (down to minus the burst) pays back before anything else is let
// through. Without a cluster nothing is started. Lock order: the mutex is a leaf.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "bus/bus.hpp"
#include "core/rate_limiter.hpp"

namespace parley {

class cluster_rates : public std::enable_shared_from_this<cluster_rates> {
 public:
  cluster_rates(boost::asio::io_context& io, bus& b, std::shared_ptr<rate_limiter> limiter,
                std::chrono::milliseconds every = std::chrono::milliseconds(100));
  // Subscribes, hooks the limiter and starts the timer (on `io`).
  void start();
  // Sends what was taken since the last batch now (also run by the timer).
  void flush();
  // Applies another node's batch (the control handler; public for tests).
  void apply(std::string_view payload);

 private:
  void schedule();

  bus& bus_;
  std::shared_ptr<rate_limiter> limiter_;
  std::chrono::milliseconds every_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::map<std::pair<int, std::string>, int> taken_;  // guarded by mu_
};

}  // namespace parley
