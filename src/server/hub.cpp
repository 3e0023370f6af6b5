#include "server/hub.hpp"

#include <boost/asio/post.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "core/wake_batch.hpp"
#include "server/between_writes.hpp"
#include "server/session.hpp"

namespace parley {

using batch_ptr = std::shared_ptr<const std::vector<committed_event_ptr>>;

struct hub::shard {
  boost::asio::io_context* ioc = nullptr;
  // This thread's sessions by user; touched on this thread only. One node per session (a
  // user has few).
  std::unordered_multimap<user_id, std::weak_ptr<session>> by_user;
  std::atomic<std::size_t> count{0};
  // A batch of events to deliver, or a call to run (a reply), in the order queued.
  struct item {
    batch_ptr batch;
    std::function<void()> call;
  };
  std::mutex mu;
  std::vector<item> inbox;  // guarded by mu
  // The inbox is not empty, and a drain was posted for it. Written under mu; read without
  // it by the write pass's hook, which only needs a hint.
  std::atomic<bool> scheduled{false};
  std::vector<item> work;  // this thread only: the items being handled
  // Bumped by add() and remove(): the sessions looked up for a conversation in a drain stay
  // valid while it is unchanged.
  std::uint64_t generation = 0;
  // This thread only, within one drain: the sessions of a conversation's last event's
  // recipients, so that the events of a conversation that arrive together (one commit or
  // several) look them up once instead of once each (see drain()). Direct-mapped by
  // conversation: a conversation whose slot another one took is looked up again.
  struct conv_targets {
    conv_id conv = 0;                                  // 0: the slot is empty
    const std::vector<user_id>* recipients = nullptr;  // of an event of `work`
    std::vector<std::shared_ptr<session>> sessions;
  };
  static constexpr std::size_t kTargetSlots = 64;
  std::array<conv_targets, kTargetSlots> cached;
  std::vector<std::size_t> cached_used;  // the slots filled since the last forget_targets()
  std::uint64_t cached_generation = 0;

  const std::vector<std::shared_ptr<session>>& targets_of(const committed_event& ev);
  void forget_targets();
};

void hub::shard::forget_targets() {
  for (auto i : cached_used) {
    cached[i].conv = 0;
    cached[i].recipients = nullptr;
    cached[i].sessions.clear();
  }
  cached_used.clear();
}

const std::vector<std::shared_ptr<session>>& hub::shard::targets_of(const committed_event& ev) {
  if (cached_generation != generation) {
    forget_targets();
    cached_generation = generation;
  }
  const auto i = static_cast<std::uint64_t>(ev.ev.conv) % kTargetSlots;
  auto& c = cached[i];
  if (c.conv == ev.ev.conv && (c.recipients == &ev.recipients || *c.recipients == ev.recipients))
    return c.sessions;
  if (c.conv == 0) cached_used.push_back(i);
  c.conv = ev.ev.conv;
  c.recipients = &ev.recipients;
  c.sessions.clear();
  for (auto uid : ev.recipients) {
    auto [b, e] = by_user.equal_range(uid);
    for (auto u = b; u != e; ++u)
      if (auto s = u->second.lock()) c.sessions.push_back(std::move(s));
  }
  return c.sessions;
}

hub::hub(metrics& m) : metrics_(m) {}
hub::~hub() = default;

void hub::attach(const std::vector<boost::asio::io_context*>& threads) {
  if (!shards_.empty()) throw std::logic_error("hub::attach: already attached");
  for (auto* io : threads) {
    auto sh = std::make_shared<shard>();
    sh->ioc = io;
    // The WebSocket write pass takes what arrived meanwhile (between_writes.hpp); it runs
    // from the pass's own handler, never inside a drain. The shard is looked up weakly: an
    // io_context may outlive the hub in tests.
    boost::asio::use_service<between_writes>(*io).set([this, w = std::weak_ptr<shard>(sh)] {
      auto s = w.lock();
      if (s && s->scheduled.load(std::memory_order_acquire)) drain(*s);
    });
    shards_.push_back(std::move(sh));
  }
}

hub::shard* hub::find_shard(const session& s) {
  auto* io = &s.executor().context();
  for (auto& sh : shards_)
    if (sh->ioc == io) return sh.get();
  return nullptr;
}

hub::shard& hub::shard_of(const session& s) {
  if (auto* sh = find_shard(s)) return *sh;
  throw std::logic_error("hub: the session's io_context is not attached");
}

void hub::add(const std::shared_ptr<session>& s) {
  auto& sh = shard_of(*s);
  auto [b, e] = sh.by_user.equal_range(s->uid());
  for (auto it = b; it != e; ++it)
    if (it->second.lock() == s) return;
  sh.by_user.emplace(s->uid(), s);
  ++sh.generation;
  sh.count.fetch_add(1, std::memory_order_relaxed);
}

void hub::remove(const session* s) {
  auto& sh = shard_of(*s);
  auto [it, e] = sh.by_user.equal_range(s->uid());
  while (it != e) {
    auto p = it->second.lock();
    if (!p || p.get() == s) {
      it = sh.by_user.erase(it);
      ++sh.generation;
      sh.count.fetch_sub(1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
}

void hub::dispatch(const std::vector<committed_event_ptr>& events) {
  metrics_.events_committed_total.fetch_add(events.size(), std::memory_order_relaxed);
  auto batch = std::make_shared<const std::vector<committed_event_ptr>>(events);
  for (auto& sh : shards_) enqueue(*sh, batch, {});
}

void hub::enqueue(shard& sh, batch_ptr batch, std::function<void()> call) {
  bool post = false;
  {
    std::lock_guard lk(sh.mu);
    sh.inbox.push_back(shard::item{std::move(batch), std::move(call)});
    post = !sh.scheduled.exchange(true, std::memory_order_release);
  }
  if (!post) return;
  // Inside a wake_batch scope (the storage writer's done calls) the drain is posted once
  // the whole batch is queued: one drain, and one socket write per session, per batch.
  auto wake = [this, s = &sh] { boost::asio::post(*s->ioc, [this, s] { drain(*s); }); };
  if (!wake_batch::defer(wake)) wake();
}

void hub::post(const session& s, std::function<void()> f) {
  if (auto* sh = find_shard(s)) return enqueue(*sh, nullptr, std::move(f));
  boost::asio::post(s.executor(), std::move(f));  // a thread the hub does not serve
}

void hub::drain(shard& sh) {
  {
    std::lock_guard lk(sh.mu);
    sh.work.swap(sh.inbox);
    sh.scheduled.store(false, std::memory_order_relaxed);
  }
  std::uint64_t delivered = 0;
  for (auto& it : sh.work) {
    if (!it.batch) {
      it.call();
      continue;
    }
    for (const auto& ev : *it.batch) {
      // The sessions are looked up first (and held), then called: a call may close its
      // session, which removes it from the map. Such a change (add or remove) makes the
      // next event look its sessions up again; until then a conversation's events with the
      // same recipients go to the same sessions, looked up once per drain. A session closed
      // meanwhile is still held, and declines the event (on_event).
      const auto& targets = sh.targets_of(*ev);
      for (std::size_t i = 0; i < targets.size(); ++i)
        delivered += targets[i]->on_event(ev) ? 1 : 0;
    }
  }
  sh.forget_targets();
  sh.work.clear();  // keeps its capacity for the next drain
  if (delivered) metrics_.deliveries_total.fetch_add(delivered, std::memory_order_relaxed);
}

void hub::notify_user(user_id u, std::shared_ptr<const std::string> frame) {
  for (auto& sh : shards_) {
    enqueue(*sh, nullptr, [s = sh.get(), u, frame] {
      std::vector<std::shared_ptr<session>> targets;
      auto [b, e] = s->by_user.equal_range(u);
      for (auto it = b; it != e; ++it)
        if (auto p = it->second.lock()) targets.push_back(std::move(p));
      for (auto& p : targets) p->on_notice(frame);
    });
  }
}

void hub::notify_users(std::vector<user_id> users, std::shared_ptr<const std::string> frame) {
  if (users.empty()) return;
  auto shared = std::make_shared<const std::vector<user_id>>(std::move(users));
  for (auto& sh : shards_) {
    enqueue(*sh, nullptr, [s = sh.get(), shared, frame] {
      std::vector<std::shared_ptr<session>> targets;
      for (auto u : *shared) {
        auto [b, e] = s->by_user.equal_range(u);
        for (auto it = b; it != e; ++it)
          if (auto p = it->second.lock()) targets.push_back(std::move(p));
      }
      for (auto& p : targets) p->on_notice(frame);
    });
  }
}

void hub::for_sessions(std::function<bool(const session&)> match,
                       std::function<void(session&)> act) {
  for (auto& sh : shards_) {
    enqueue(*sh, nullptr, [s = sh.get(), match, act] {
      // Collected first: acting may close a session, which removes it from the map.
      std::vector<std::shared_ptr<session>> targets;
      for (auto& [uid, w] : s->by_user)
        if (auto p = w.lock(); p && match(*p)) targets.push_back(std::move(p));
      for (auto& p : targets) act(*p);
    });
  }
}

void hub::close_device(device_id d, std::uint16_t code, const std::string& reason) {
  for_sessions([d](const session& s) { return s.device() == d; },
               [code, reason](session& s) { s.close(code, reason); });
}

void hub::refresh_device(device_id d, std::int64_t expires_ms) {
  for_sessions([d](const session& s) { return s.device() == d; },
               [expires_ms](session& s) { s.set_expires(expires_ms); });
}

void hub::close_expired(std::int64_t now_ms) {
  for_sessions(
      [now_ms](const session& s) { return s.expires_ms() <= now_ms; },
      [](session& s) { s.close(close_code::logged_out, "logged out: the token expired"); });
}

void hub::resync_all() {
  for_sessions([](const session&) { return true; }, [](session& s) { s.resync(); });
}

void hub::close_all(std::uint16_t code, const std::string& reason) {
  for_sessions([](const session&) { return true; },
               [code, reason](session& s) { s.close(code, reason); });
}

std::size_t hub::size() const {
  std::size_t n = 0;
  for (const auto& sh : shards_) n += sh->count.load(std::memory_order_relaxed);
  return n;
}

}  // namespace parley
