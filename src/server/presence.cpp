#include "server/presence.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/service.hpp"

namespace parley {

presence_tracker::presence_tracker(boost::asio::io_context& io, store& st, bus& b,
                                   typing_tracker& typing, std::chrono::milliseconds flush,
                                   std::chrono::milliseconds idle)
    : st_(st), bus_(b), typing_(typing), flush_(flush), idle_(idle), timer_(io) {}

namespace {
constexpr auto kBeatEvery = std::chrono::seconds(2);
constexpr auto kNodeTimeout = std::chrono::seconds(6);
// Users per control message (a snapshot of more is sent in parts).
constexpr std::size_t kUsersPerMessage = 20000;

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}
std::uint64_t weight(std::string_view node, user_id u) {
  return mix(fnv1a(node) ^ (static_cast<std::uint64_t>(u) * 0x9e3779b97f4a7c15ull));
}
}  // namespace

void presence_tracker::start() {
  if (bus_.clustered()) {
    bus_.subscribe_control(
        "presence", [self = shared_from_this()](std::string_view p) { self->on_control(p); });
    // After each (re)connect to the bus: the others may have forgotten this node, and
    // what they said meanwhile is lost.
    bus_.on_lost([self = shared_from_this()] {
      self->send_control("hello", {});
      self->send_snapshot();
    });
    // At start too (the first connection is not a loss): the others send their states,
    // and this node's (empty) snapshot takes back whatever an earlier process with the
    // same node id said, if it died less than the forgetting time ago.
    send_control("hello", {});
    send_snapshot();
  }
  schedule();
}

void presence_tracker::schedule() {
  timer_.expires_after(flush_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    self->flush();
    self->schedule();
  });
}

std::uint8_t presence_tracker::local_state(const user_state& s) {
  if (!s.prefs_loaded || s.invisible || s.devices.empty()) return kOffline;
  for (const auto& [d, ds] : s.devices)
    if (!ds.away) return kOnline;
  return kAway;
}

std::uint8_t presence_tracker::combined(const user_state& s) {
  auto v = local_state(s);
  for (const auto& [n, st] : s.remote) v = std::max(v, st);
  return v;
}

const char* presence_tracker::name(std::uint8_t state) {
  return state == kOnline ? "online" : state == kAway ? "away" : "offline";
}

void presence_tracker::connected(user_id u, device_id d) {
  bool load = false;
  {
    std::lock_guard lk(mu_);
    auto& s = users_[u];
    auto& ds = s.devices[d];
    ++ds.connections;
    s.left = false;
    ds.away = false;
    ds.active_ms = now_ms();
    load = !s.prefs_loaded;
  }
  if (load) load_prefs(u);
}

void presence_tracker::load_prefs(user_id u) {
  st_.read(
      [self = shared_from_this(), u](read_txn& t) {
        auto p = t.find_prefs(u);
        std::lock_guard lk(self->mu_);
        auto it = self->users_.find(u);
        if (it == self->users_.end() || it->second.prefs_loaded) return;
        it->second.invisible = p.invisible;
        it->second.prefs_loaded = true;
      },
      [](const error&) {});
}

void presence_tracker::disconnected(user_id u, device_id d) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;
  auto dit = it->second.devices.find(d);
  if (dit == it->second.devices.end()) return;
  if (--dit->second.connections <= 0) it->second.devices.erase(dit);
  if (it->second.devices.empty()) it->second.left = true;
}

void presence_tracker::activity(user_id u, device_id d) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;
  auto dit = it->second.devices.find(d);
  if (dit == it->second.devices.end()) return;
  dit->second.active_ms = now_ms();
  dit->second.away = false;
}

void presence_tracker::set_away(user_id u, device_id d, bool away) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;
  auto dit = it->second.devices.find(d);
  if (dit == it->second.devices.end()) return;
  dit->second.away = away;
  if (!away) dit->second.active_ms = now_ms();
}

void presence_tracker::set_invisible(user_id u, bool invisible) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;  // not connected: read from the store at the next connect
  it->second.invisible = invisible;
}

std::string presence_tracker::shown(user_id u) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  return name(it == users_.end() ? std::uint8_t{kOffline} : combined(it->second));
}

std::size_t presence_tracker::nodes_alive() {
  std::lock_guard lk(mu_);
  return 1 + static_cast<std::size_t>(std::count_if(nodes_.begin(), nodes_.end(),
                                                    [](const node_info& n) { return n.alive; }));
}

void presence_tracker::flush() {
  struct change {
    user_id u;
    std::string state;
  };
  std::vector<change> changes;
  std::vector<user_id> gone;  // no connection since the last flush: their typing ends
  std::vector<std::pair<user_id, std::uint8_t>> told;  // this node's changes, for the others
  auto now = now_ms();
  auto steady = std::chrono::steady_clock::now();
  bool beat = false;
  {
    std::lock_guard lk(mu_);
    if (bus_.clustered()) {
      for (std::uint32_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].alive && steady - nodes_[i].heard > kNodeTimeout) {
          spdlog::warn("event=node_lost node={}", nodes_[i].id);
          forget_node(i);
        }
      if (steady - last_beat_ >= kBeatEvery) {
        last_beat_ = steady;
        beat = true;
      }
    }
    for (auto it = users_.begin(); it != users_.end();) {
      auto& s = it->second;
      if (s.left && s.devices.empty()) gone.push_back(it->first);
      s.left = false;
      for (auto& [d, ds] : s.devices)
        if (!ds.away && now - ds.active_ms >= idle_.count()) ds.away = true;  // idle
      auto mine = local_state(s);
      if (mine != s.told) {
        s.told = mine;
        told.emplace_back(it->first, mine);
      }
      auto v = combined(s);
      if (v != s.announced) {
        s.announced = v;
        if (announcer_is_me(it->first, s.not_announcer)) changes.push_back({it->first, name(v)});
      }
      s.not_announcer = -1;
      if (s.devices.empty() && s.remote.empty() && s.announced == kOffline)
        it = users_.erase(it);  // nothing left to remember
      else
        ++it;
    }
  }
  if (bus_.clustered()) {
    if (!told.empty()) send_control("delta", told);
    if (beat) send_control("beat", {});
  }
  for (auto u : gone) typing_.user_gone(u);  // (the typing lock is not taken under ours)
  if (changes.empty()) return;
  // Who went offline was last seen now (unless invisible: then last_seen stays as it was).
  std::vector<user_id> seen;
  for (const auto& c : changes)
    if (c.state == "offline") seen.push_back(c.u);
  if (!seen.empty())
    st_.write(
        [seen, now](write_txn& t) {
          for (auto u : seen)
            if (!t.find_prefs(u).invisible) t.set_last_seen(u, now);
          return error{errc::ok, {}, {}, 0};
        },
        [](const error& e) {
          if (e.code != errc::ok) spdlog::warn("event=last_seen_failed what=\"{}\"", e.message);
        });
  for (const auto& c : changes)
    st_.read(
        [this, c, now](read_txn& t) {
          std::string n = "{\"notice\":\"presence\",\"user\":" + std::to_string(c.u) +
                          ",\"state\":\"" + c.state + "\"";
          if (c.state == "offline") {
            auto p = t.find_prefs(c.u);
            auto last = p.invisible ? p.last_seen_ms : now;
            if (last) n += ",\"last_seen\":" + std::to_string(last);
          }
          bus_.publish_notice(0, t.list_contacts(c.u),
                              std::make_shared<const std::string>(n + "}"));
        },
        [](const error&) {});
}

bool presence_tracker::announcer_is_me(user_id u, std::int64_t except_node) const {
  const auto& me = bus_.node_id();
  auto best = weight(me, u);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const auto& n = nodes_[i];
    if (!n.alive || static_cast<std::int64_t>(i) == except_node) continue;
    auto w = weight(n.id, u);
    if (w > best || (w == best && n.id < me)) return false;
  }
  return true;
}

std::uint32_t presence_tracker::node_index(const std::string& id) {
  for (std::uint32_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].id == id) return i;
  nodes_.push_back({id, {}, false});
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void presence_tracker::forget_node(std::uint32_t idx) {
  nodes_[idx].alive = false;
  for (auto& [u, s] : users_)
    std::erase_if(s.remote, [idx](const auto& r) { return r.first == idx; });
}

void presence_tracker::on_control(std::string_view payload) {
  // {"node":"id","kind":"delta"|"snapshot"|"beat"|"hello","users":[[user,state],...]}
  boost::system::error_code ec;
  auto v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) return;
  const auto& o = v.as_object();
  const auto* node = o.if_contains("node");
  const auto* kind = o.if_contains("kind");
  if (!node || !node->is_string() || !kind || !kind->is_string()) return;
  std::string id(node->as_string());
  std::string k(kind->as_string());
  if (id == bus_.node_id()) return;
  bool ask = false;  // a node this one knows nothing of: ask everyone for their state
  {
    std::lock_guard lk(mu_);
    auto idx = node_index(id);
    if (!nodes_[idx].alive) {
      spdlog::info("event=node_seen node={}", id);
      ask = k != "snapshot" && k != "hello";
    }
    std::vector<user_id> had;  // users this node's snapshot may take back
    if (k == "snapshot") {
      for (auto& [u, s] : users_)
        for (const auto& r : s.remote)
          if (r.first == idx) had.push_back(u);
      forget_node(idx);  // replaced by what follows
    }
    nodes_[idx].alive = true;
    nodes_[idx].heard = std::chrono::steady_clock::now();
    const auto* users = o.if_contains("users");
    if ((k == "snapshot" || k == "delta") && users && users->is_array()) {
      for (const auto& e : users->as_array()) {
        const auto* pair = e.if_array();
        if (!pair || pair->size() != 2 || !(*pair)[0].is_int64() || !(*pair)[1].is_int64())
          continue;
        auto u = (*pair)[0].as_int64();
        auto st = (*pair)[1].as_int64();
        if (st < kOffline || st > kOnline) continue;
        auto it = users_.find(u);
        if (it == users_.end()) {
          if (st == kOffline) continue;
          it = users_.emplace(u, user_state{}).first;
        }
        auto& r = it->second.remote;
        std::erase_if(r, [idx](const auto& x) { return x.first == idx; });
        if (st != kOffline) r.emplace_back(idx, static_cast<std::uint8_t>(st));
      }
    }
    for (auto u : had) {
      auto it = users_.find(u);
      if (it == users_.end()) continue;
      auto& r = it->second.remote;
      if (std::none_of(r.begin(), r.end(), [idx](const auto& x) { return x.first == idx; }))
        it->second.not_announcer = idx;
    }
  }
  if (k == "hello") send_snapshot();
  if (ask) send_control("hello", {});
}

void presence_tracker::send_control(const char* kind,
                                    const std::vector<std::pair<user_id, std::uint8_t>>& users) {
  std::size_t i = 0;
  do {
    std::string out = "{\"node\":" + boost::json::serialize(boost::json::value(bus_.node_id())) +
                      ",\"kind\":\"" + (i == 0 ? kind : "delta") + "\",\"users\":[";
    auto end = std::min(users.size(), i + kUsersPerMessage);
    for (auto j = i; j < end; ++j) {
      if (j > i) out += ',';
      out += '[' + std::to_string(users[j].first) + ',' + std::to_string(users[j].second) + ']';
    }
    out += "]}";
    bus_.publish_control("presence", std::move(out));
    i = end;
  } while (i < users.size());
}

void presence_tracker::send_snapshot() {
  std::vector<std::pair<user_id, std::uint8_t>> mine;
  {
    std::lock_guard lk(mu_);
    for (auto& [u, s] : users_) {
      s.told = local_state(s);
      if (s.told != kOffline) mine.emplace_back(u, s.told);
    }
  }
  send_control("snapshot", mine);
}

void presence_tracker::contacts_json(read_txn& t, user_id viewer, std::string& out) {
  out += '[';
  bool first = true;
  for (auto u : t.list_contacts(viewer)) {
    auto state = shown(u);
    out += first ? "" : ",";
    first = false;
    out += "{\"user\":" + std::to_string(u) + ",\"state\":\"" + state + "\"";
    if (state == "offline")
      if (auto last = t.find_prefs(u).last_seen_ms) out += ",\"last_seen\":" + std::to_string(last);
    out += '}';
  }
  out += ']';
}

void presence_tracker::query(user_id viewer, std::function<void(result<std::string>)> done) {
  st_.read(
      [self = shared_from_this(), viewer, done](read_txn& t) {
        std::string out = "{\"presence\":";
        self->contacts_json(t, viewer, out);
        done(out + "}");
      },
      [done](const error& e) { done(e); });
}

void presence_tracker::snapshot(user_id viewer, std::function<void(std::string)> send) {
  st_.read(
      [self = shared_from_this(), viewer, send](read_txn& t) {
        std::string out = "{\"notice\":\"presence\",\"users\":";
        self->contacts_json(t, viewer, out);
        if (out.back() == '[' || out.ends_with("[]")) return send({});  // no contacts
        send(out + "}");
      },
      [send](const error&) { send({}); });
}

}  // namespace parley
