// One I/O thread's pass over the connections that have frames to write.
//
// A connection with frames queued and no write under way is scheduled; one handler then
// gives every scheduled connection its turn (Conn::write_turn(): start a write, write until
// the socket is full), in the order they were scheduled. One handler for a thousand
// connections instead of a thousand handlers, and frames queued for a connection before
// its turn go out in its one write.
//
// Every `between` turns the pass runs the context's between_writes hook (the hub's drain):
// events committed while the pass is under way join the writes of connections not reached
// yet, and connections the pass already wrote are scheduled again and written before it
// ends, instead of waiting behind the whole pass. After `per_pass` turns the rest continues
// in a handler queued behind the others, so reads and timers are not starved.
//
// Contract: on the io_context's thread only. write_turn() may schedule connections (itself
// included) and may run anything a handler may. A scheduled connection is held until its
// turn.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <memory>
#include <vector>

#include "server/between_writes.hpp"

namespace parley {

template <class Conn>
class write_pass {
 public:
  explicit write_pass(boost::asio::io_context& ioc, std::size_t per_pass = 4096,
                      std::size_t between = 16)
      : ioc_(ioc), per_pass_(per_pass), between_(between) {}

  void schedule(std::shared_ptr<Conn> c) {
    queue_.push_back(std::move(c));
    if (posted_) return;
    posted_ = true;
    boost::asio::post(ioc_.get_executor(), [this] { run(); });
  }

  // Connections waiting for their turn.
  std::size_t size() const { return queue_.size(); }
  // The context is shutting down: lets go of the connections waiting (no turn comes).
  void clear() { queue_.clear(); }

 private:
  void run() {
    if (!hook_) hook_ = &boost::asio::use_service<between_writes>(ioc_);
    std::size_t i = 0;
    for (; i < queue_.size() && i < per_pass_; ++i) {
      if (i % between_ == 0) hook_->run();  // may schedule (append to queue_)
      auto c = std::move(queue_[i]);        // queue_ may grow, and move, during the turn
      c->write_turn();
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(i));
    if (queue_.empty()) {
      posted_ = false;
    } else {
      boost::asio::post(ioc_.get_executor(), [this] { run(); });
    }
  }

  boost::asio::io_context& ioc_;
  std::size_t per_pass_;
  std::size_t between_;
  between_writes* hook_ = nullptr;
  std::vector<std::shared_ptr<Conn>> queue_;
  bool posted_ = false;  // a pass is queued or running
};

}  // namespace parley
