// Work an I/O thread runs between the socket writes of one write pass.
//
// Why: the WebSocket transport writes every connection that has frames waiting in one
// pass, a handler of its own. On a busy thread that pass is long (thousands of sockets, a
// few microseconds of kernel time each), and events committed meanwhile would wait behind
// all of it for the hub's drain, a handler queued after the pass. The hub registers its
// drain here on each of its I/O threads and the pass runs it every few writes: what the
// drain queues joins the writes of the connections the pass has not reached yet (one
// socket write where there would have been two), and connections already written are
// written again at the end of the same pass.
//
// Contract: one per io_context (an asio service). set() before the context runs, or on
// its thread. run() on the context's thread only, from a point where the caller tolerates
// anything a handler may do (queue frames, close connections); it must not throw. The
// registered function must be cheap when there is nothing to do: it is called every few
// writes. A context whose hook was never set runs nothing.
#pragma once

#include <boost/asio/execution_context.hpp>

#include <functional>
#include <utility>

namespace parley {

class between_writes : public boost::asio::execution_context::service {
 public:
  using key_type = between_writes;
  static inline boost::asio::execution_context::id id;

  explicit between_writes(boost::asio::execution_context& c)
      : boost::asio::execution_context::service(c) {}

  void set(std::function<void()> f) { fn_ = std::move(f); }
  void run() {
    if (fn_) fn_();
  }

 private:
  void shutdown() override { fn_ = nullptr; }
  std::function<void()> fn_;
};

}  // namespace parley
