#include "server/presence.hpp"

#include <spdlog/spdlog.h>

#include "core/service.hpp"

namespace parley {

presence_tracker::presence_tracker(boost::asio::io_context& io, store& st, hub& h,
                                   typing_tracker& typing, std::chrono::milliseconds flush,
                                   std::chrono::milliseconds idle)
    : st_(st), hub_(h), typing_(typing), flush_(flush), idle_(idle), timer_(io) {}

void presence_tracker::start() {
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

std::string presence_tracker::visible(const user_state& s) {
  if (s.invisible || s.devices.empty()) return "offline";
  for (const auto& [d, ds] : s.devices)
    if (!ds.away) return "online";
  return "away";
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
    s.dirty = true;
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
        it->second.dirty = true;
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
  it->second.dirty = true;
  if (it->second.devices.empty()) it->second.left = true;
}

void presence_tracker::activity(user_id u, device_id d) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;
  auto dit = it->second.devices.find(d);
  if (dit == it->second.devices.end()) return;
  dit->second.active_ms = now_ms();
  if (dit->second.away) {
    dit->second.away = false;
    it->second.dirty = true;
  }
}

void presence_tracker::set_away(user_id u, device_id d, bool away) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;
  auto dit = it->second.devices.find(d);
  if (dit == it->second.devices.end()) return;
  dit->second.away = away;
  if (!away) dit->second.active_ms = now_ms();
  it->second.dirty = true;
}

void presence_tracker::set_invisible(user_id u, bool invisible) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  if (it == users_.end()) return;  // not connected: read from the store at the next connect
  it->second.invisible = invisible;
  it->second.dirty = true;
}

std::string presence_tracker::shown(user_id u) {
  std::lock_guard lk(mu_);
  auto it = users_.find(u);
  return it == users_.end() || !it->second.prefs_loaded ? "offline" : visible(it->second);
}

void presence_tracker::flush() {
  struct change {
    user_id u;
    std::string state;
  };
  std::vector<change> changes;
  std::vector<user_id> gone;  // no connection since the last flush: their typing ends
  auto now = now_ms();
  {
    std::lock_guard lk(mu_);
    for (auto it = users_.begin(); it != users_.end();) {
      auto& s = it->second;
      if (s.left && s.devices.empty()) gone.push_back(it->first);
      s.left = false;
      for (auto& [d, ds] : s.devices)
        if (!ds.away && now - ds.active_ms >= idle_.count()) {
          ds.away = true;  // idle
          s.dirty = true;
        }
      if (s.dirty && s.prefs_loaded) {
        s.dirty = false;
        auto v = visible(s);
        if (v != s.announced) {
          s.announced = v;
          changes.push_back({it->first, v});
        }
      }
      if (s.devices.empty() && !s.dirty && s.announced == "offline")
        it = users_.erase(it);  // nothing left to remember
      else
        ++it;
    }
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
          hub_.notify_users(t.list_contacts(c.u), std::make_shared<const std::string>(n + "}"));
        },
        [](const error&) {});
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
