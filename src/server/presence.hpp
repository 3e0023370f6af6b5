// Presence: online, away or offline (with when last seen), per user, from the state of the
// user's connections (online if any device is active, away if every connected device is
// away, offline without connections). A device is away when it says so (op presence) or
// after `idle` without a request that shows someone there. Invisible users are offline to
// everyone else. Changes are coalesced: every `flush` interval, users whose visible state
// differs from the one last announced are announced to their online contacts (users who
// share a conversation with them), so a reconnect within the interval announces nothing.
// Going offline records last_seen in the store.
//
// In a cluster (a clustered bus) what others see is the most present state over every
// node (online > away > offline). Each node tells the others its own users' states on the
// bus's control topic "presence": changes at every flush, a heartbeat every 2 s, its whole
// state when a node says hello; at start and after each reconnect to the bus it says
// hello and sends its own state (at start: none, which also takes back what an earlier
// process under the same node id said). A node not
// heard from for 6 s is forgotten with everything it said (killed nodes go offline). Of
// the nodes alive, one announces each user's changes to the contacts (rendezvous hashing
// of user and node names), so a change is announced once however many nodes see it.
// Lock order: the mutex is a leaf; nothing is published while holding it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bus/bus.hpp"
#include "core/error.hpp"
#include "server/typing.hpp"
#include "store/store.hpp"

namespace parley {

class presence_tracker : public std::enable_shared_from_this<presence_tracker> {
 public:
  presence_tracker(boost::asio::io_context& io, store& st, bus& b, typing_tracker& typing,
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
  // Nodes this one hears from now, itself included (tests, metrics).
  std::size_t nodes_alive();

 private:
  struct device_state {
    int connections = 0;
    bool away = false;
    std::int64_t active_ms = 0;
  };
  // States ordered by presence: the most present of several wins.
  enum : std::uint8_t { kOffline = 0, kAway = 1, kOnline = 2 };
  struct user_state {
    std::map<device_id, device_state> devices;
    bool prefs_loaded = false;
    bool invisible = false;
    std::uint8_t announced = kOffline;  // the combined state last announced (by any node)
    std::uint8_t told = kOffline;       // this node's own state as last told the others
    bool left = false;  // the last connection closed: typing ends at the next flush if
                        // none came back (a long-polling client is between two polls)
    std::vector<std::pair<std::uint32_t, std::uint8_t>> remote;  // (node index, state)
    // A node's snapshot took back what it had said of this user: that node (restarted,
    // it knows nothing of the user) is not the one to announce the change.
    std::int64_t not_announcer = -1;
  };
  struct node_info {
    std::string id;
    std::chrono::steady_clock::time_point heard;
    bool alive = false;
  };
  static std::uint8_t local_state(const user_state& s);
  static std::uint8_t combined(const user_state& s);
  static const char* name(std::uint8_t state);
  void load_prefs(user_id u);
  void schedule();
  void flush();
  void contacts_json(read_txn& t, user_id viewer, std::string& out);
  // Cluster: the control messages, and who announces u's changes (under mu_).
  void on_control(std::string_view payload);
  void send_control(const char* kind, const std::vector<std::pair<user_id, std::uint8_t>>& users);
  void send_snapshot();
  bool announcer_is_me(user_id u, std::int64_t except_node) const;
  std::uint32_t node_index(const std::string& id);
  void forget_node(std::uint32_t idx);

  store& st_;
  bus& bus_;
  typing_tracker& typing_;
  std::chrono::milliseconds flush_, idle_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::unordered_map<user_id, user_state> users_;
  std::vector<node_info> nodes_;  // other nodes ever heard from; indexes are stable
  std::chrono::steady_clock::time_point last_beat_{};
};

}  // namespace parley
