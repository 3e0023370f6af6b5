// The registry of synced sessions by user, and live fan-out of committed events.
//
// One shard per I/O thread. A shard's sessions are registered, looked up and removed on
// that thread only, so its map needs no lock. dispatch() (the bus subscriber, on the
// storage writer thread) appends the batch of committed events, shared and never copied,
// to every shard's inbox and posts a drain to the shard's thread only if none is pending;
// the drain delivers every batch that arrived meanwhile, in commit order, to the
// recipients' sessions (looked up once per conversation and drain while the registry is
// unchanged and the recipients are the same). Replies to requests (post()) go through the same
// queue. While a thread is busy, batches pile up in its inbox and the next drain hands a connection
// all of them at once: one socket write for many commits (the busier the server, the bigger the
// writes). The drain also runs from the thread's WebSocket write pass, every few connections
// written (between_writes.hpp), so a batch that arrives during a long pass joins it instead of
// waiting behind it. Lock order: a shard's inbox mutex is a leaf; nothing is called while
// holding it.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "core/model.hpp"
#include "server/metrics.hpp"

namespace parley {

class session;

// Every call that reaches the I/O threads (batches, replies, notices, closes) goes
// through one queue per I/O thread: on each thread they run in the order one caller made
// them. So a logout's reply, queued before its close_device, goes out before the close.
class hub {
 public:
  explicit hub(metrics& m);
  ~hub();
  // Before any session is added: the I/O threads' io_contexts, one shard each.
  void attach(const std::vector<boost::asio::io_context*>& threads);
  // On the session's own thread.
  void add(const std::shared_ptr<session>& s);
  void remove(const session* s);
  // Any thread: queues the batch for delivery on every I/O thread.
  void dispatch(const std::vector<committed_event_ptr>& events);
  // Any thread: runs `f` on the session's thread, after every batch dispatched before
  // this call, in the same drain (a reply does not cost a post of its own while the
  // thread is busy).
  void post(const session& s, std::function<void()> f);
  // Any thread: every session reads what it may have missed from the store again.
  void resync_all();
  // Any thread: sends a notice frame to every session of a user.
  void notify_user(user_id u, std::shared_ptr<const std::string> frame);
  // Any thread: the same frame to every session of each user (one post per shard).
  void notify_users(std::vector<user_id> users, std::shared_ptr<const std::string> frame);
  // Any thread: closes every session of a device (logout) / of the process.
  void close_device(device_id d, std::uint16_t code, const std::string& reason);
  // Any thread: the device got a new token; its sessions now expire at `expires_ms`.
  void refresh_device(device_id d, std::int64_t expires_ms);
  // Any thread: closes (4003) every session whose token expired by `now_ms`.
  void close_expired(std::int64_t now_ms);
  void close_all(std::uint16_t code, const std::string& reason);
  // Registered sessions (a snapshot).
  std::size_t size() const;

 private:
  struct shard;
  shard* find_shard(const session& s);  // null if the session's thread is not attached
  shard& shard_of(const session& s);
  // Queues a batch (or, with `batch` null, a call) and posts a drain if none is pending.
  void enqueue(shard& sh, std::shared_ptr<const std::vector<committed_event_ptr>> batch,
               std::function<void()> call);
  void drain(shard& sh);
  // Any thread: on each shard's thread, through its queue, `act` on every session there
  // for which `match` holds.
  void for_sessions(std::function<bool(const session&)> match, std::function<void(session&)> act);

  metrics& metrics_;
  std::vector<std::shared_ptr<shard>> shards_;  // fixed after attach()
};

}  // namespace parley
