// Presence: online, away or offline (with when last seen), per user, from the state of the
// user's connections (online if any device is active, away if every connected device is
// away, offline without connections). A device is away when it says so (op presence) or
// after `idle` without a request that shows someone there. Invisible users are offline to
// everyone else. Changes are coalesced: every `flush` interval, users whose visible state
// differs from the one last announced are announced to their online contacts (users who
// share a conversation with them), so a reconnect within the interval announces nothing.
// Going offline records last_seen in the store. Lock order: the mutex is a leaf.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "server/hub.hpp"
#include "server/typing.hpp"
#include "store/store.hpp"

namespace parley {

class presence_tracker : public std::enable_shared_from_this<presence_tracker> {
 public:
  presence_tracker(boost::asio::io_context& io, store& st, hub& h, typing_tracker& typing,
                   std::chrono::milliseconds flush, std::chrono::milliseconds idle);
  void start();

  // Any thread.
  void connected(user_id u, device_id d);
  void disconnected(user_id u, device_id d);
  void activity(user_id u, device_id d);
  void set_away(user_id u, device_id d, bool away);
  void set_invisible(user_id u, bool invisible);
  // {"presence":[{"user","state","last_seen"?}]}: the caller's contacts.
  void query(user_id viewer, std::function<void(result<std::string>)> done);
  // The same as a notice ({"notice":"presence","users":[...]}), for a resumed session.
  // `send` runs exactly once: with "" when there is nothing to tell (no contacts, or the
  // read failed).
  void snapshot(user_id viewer, std::function<void(std::string)> send);
  // What others see of u now: "online", "away" or "offline".
  std::string shown(user_id u);

 private:
  struct device_state {
    int connections = 0;
    bool away = false;
    std::int64_t active_ms = 0;
  };
  struct user_state {
    std::map<device_id, device_state> devices;
    bool prefs_loaded = false;
    bool invisible = false;
    std::string announced = "offline";
    bool dirty = false;
    bool left = false;  // the last connection closed: typing ends at the next flush if
                        // none came back (a long-polling client is between two polls)
  };
  static std::string visible(const user_state& s);
  void load_prefs(user_id u);
  void schedule();
  void flush();
  void contacts_json(read_txn& t, user_id viewer, std::string& out);

  store& st_;
  hub& hub_;
  typing_tracker& typing_;
  std::chrono::milliseconds flush_, idle_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::unordered_map<user_id, user_state> users_;
};

}  // namespace parley
