#include "bus/nats_bus.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "bus/bus_codec.hpp"
#include "bus/local_bus.hpp"
#include "core/thread_name.hpp"

namespace parley {

namespace {

constexpr int kReconnectBufBytes = 8 << 20;
// Events of one conversation in one commit go out as one message, split past this size
// (nats-server refuses payloads over its max_payload, 1 MiB by default).
constexpr std::size_t kMaxMessageBytes = 256 << 10;
constexpr auto kLostDebounce = std::chrono::milliseconds(500);
constexpr std::int64_t kFlushTimeoutMs = 2000;

std::string conv_subject(conv_id c) {
  return "parley.c." + std::to_string(c);
}
std::string user_subject(user_id u) {
  return "parley.u." + std::to_string(u);
}

// The users a conversation gains with this event: they receive it on their own subject,
// since their nodes may not subscribe to the conversation yet.
std::vector<user_id> joined_users(const committed_event& ce) {
  if (ce.ev.type == "conversation.created") return ce.recipients;
  if (ce.ev.type != "member.joined") return {};
  boost::system::error_code ec;
  auto v = boost::json::parse(ce.ev.data, ec);
  if (ec || !v.is_object()) return {};
  const auto* u = v.as_object().if_contains("user");
  if (!u || !u->is_object()) return {};
  const auto* id = u->as_object().if_contains("id");
  if (!id || !id->is_int64()) return {};
  return {id->as_int64()};
}

}  // namespace

struct nats_bus::impl {
  struct interest {
    int refs = 0;
    natsSubscription* sub = nullptr;
    bool confirmed = false;    // the server has the subscription
    bool subscribing = false;  // the worker is subscribing it now
    // want() calls waiting for this subject: each counts its unconfirmed subjects.
    std::vector<std::shared_ptr<std::pair<std::size_t, std::function<void()>>>> waiting;
  };

  nats_options opt;
  natsOptions* nopts = nullptr;
  natsConnection* nc = nullptr;
  local_bus local;  // this node's subscribers

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, interest> subjects;           // guarded by mu
  std::deque<std::string> reconcile;                            // guarded by mu
  std::map<std::string, std::vector<control_handler>> control;  // guarded by mu
  std::vector<natsSubscription*> fixed;                         // guarded by mu
  std::vector<std::function<void()>> lost_handlers;             // guarded by mu
  bool lost = false;                                            // guarded by mu
  bool stopping = false;                                        // guarded by mu
  bool applying = false;   // the worker is applying a batch taken from reconcile; by mu
  std::shared_mutex gate;  // held shared while a handler runs; close() takes it
  bool closed = false;     // guarded by gate
  std::atomic<bool> publish_failed{false};
  std::atomic<bool> up{false};
  std::atomic<bool> closing{false};
  // libnats runs its connection callbacks on a thread of its own, after Close returns;
  // the closed callback is the last one, so close() waits for it before the callbacks'
  // closure (this object) may go away.
  std::mutex closed_mu;
  std::condition_variable closed_cv;
  bool closed_cb_done = false;  // guarded by closed_mu
  std::thread worker;

  // --- libnats callbacks (its threads) ---

  static void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
    auto* self = static_cast<impl*>(closure);
    std::string_view subject = natsMsg_GetSubject(m);
    std::string_view data(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    self->deliver(subject, data);
    natsMsg_Destroy(m);
  }
  static void on_connected(natsConnection*, void* closure) {
    auto* self = static_cast<impl*>(closure);
    self->up = true;
    spdlog::info("event=nats_connected node={}", self->opt.node_id);
    // Whatever other nodes published while this one was away is gone; and if this node's
    // own publishes were dropped meanwhile, every other node must look again.
    if (self->publish_failed.exchange(false)) self->publish_control("resync", self->opt.node_id);
    self->mark_lost();
  }
  static void on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<impl*>(closure);
    std::lock_guard lk(self->closed_mu);
    self->closed_cb_done = true;
    self->closed_cv.notify_all();
  }
  static void on_disconnected(natsConnection*, void* closure) {
    auto* self = static_cast<impl*>(closure);
    if (self->up.exchange(false) && !self->closing)
      spdlog::warn("event=nats_disconnected node={}", self->opt.node_id);
  }
  static void on_error(natsConnection*, natsSubscription*, natsStatus s, void* closure) {
    auto* self = static_cast<impl*>(closure);
    spdlog::warn("event=nats_error node={} status=\"{}\"", self->opt.node_id,
                 natsStatus_GetText(s));
    if (s == NATS_SLOW_CONSUMER) self->mark_lost();
  }

  void deliver(std::string_view subject, std::string_view data) {
    std::shared_lock g(gate);
    if (closed) return;
    if (subject.starts_with("parley.x.")) {
      auto topic = std::string(subject.substr(9));
      std::vector<control_handler> hs;
      {
        std::lock_guard lk(mu);
        if (auto it = control.find(topic); it != control.end()) hs = it->second;
      }
      for (const auto& h : hs) h(data);
      return;
    }
    if (data.empty()) return;
    if (data[0] == 'E') {
      auto evs = bus_codec::decode_events(data);
      if (!evs) {
        spdlog::warn("event=nats_bad_message subject={} bytes={}", subject, data.size());
        return;
      }
      local.publish(std::move(*evs));
    } else if (data[0] == 'N') {
      auto n = bus_codec::decode_notice(data);
      if (!n) {
        spdlog::warn("event=nats_bad_message subject={} bytes={}", subject, data.size());
        return;
      }
      local.publish_notice(0, std::move(n->users), std::move(n->frame));
    }
  }

  void mark_lost() {
    std::lock_guard lk(mu);
    lost = true;
    cv.notify_all();
  }

  // --- publishing ---

  void send(const std::string& subject, const std::string& payload) {
    auto s = natsConnection_Publish(nc, subject.c_str(), payload.data(),
                                    static_cast<int>(payload.size()));
    if (s != NATS_OK && !publish_failed.exchange(true))
      spdlog::warn("event=nats_publish_failed node={} status=\"{}\"", opt.node_id,
                   natsStatus_GetText(s));
  }

  void publish_control(std::string_view topic, const std::string& payload) {
    send("parley.x." + std::string(topic), payload);
  }

  // --- interest (worker thread) ---

  void run_worker() {
    name_thread("parley-nats");
    auto last_lost = std::chrono::steady_clock::now() - kLostDebounce;
    std::unique_lock lk(mu);
    for (;;) {
      auto lost_due = last_lost + kLostDebounce;
      cv.wait_until(lk, lost_due, [&] {
        return stopping || !reconcile.empty() ||
               (lost && std::chrono::steady_clock::now() >= lost_due);
      });
      if (stopping) return;
      if (!reconcile.empty()) {
        std::vector<std::string> todo(reconcile.begin(), reconcile.end());
        reconcile.clear();
        applying = true;
        lk.unlock();
        apply(todo);
        lk.lock();
        applying = false;
      }
      if (lost && std::chrono::steady_clock::now() >= last_lost + kLostDebounce) {
        lost = false;
        last_lost = std::chrono::steady_clock::now();
        auto hs = lost_handlers;
        lk.unlock();
        {
          std::shared_lock g(gate);
          if (!closed)
            for (const auto& h : hs) h();
        }
        lk.lock();
      }
    }
  }

  // Brings the subscriptions of `todo` in line with their counts, flushes, and runs the
  // want() callbacks whose subjects are all confirmed.
  void apply(const std::vector<std::string>& todo) {
    std::vector<std::string> subscribe_now;
    std::vector<natsSubscription*> drop;
    {
      std::lock_guard lk(mu);
      for (const auto& s : todo) {
        auto it = subjects.find(s);
        if (it == subjects.end()) continue;
        if (it->second.refs > 0 && !it->second.sub) {
          if (it->second.subscribing) continue;
          it->second.subscribing = true;
          subscribe_now.push_back(s);
        } else if (it->second.refs == 0 && !it->second.subscribing) {
          if (it->second.sub) drop.push_back(it->second.sub);
          subjects.erase(it);
        }
      }
    }
    for (auto* sub : drop) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    std::vector<std::pair<std::string, natsSubscription*>> made;
    for (const auto& s : subscribe_now) {
      natsSubscription* sub = nullptr;
      auto st = natsConnection_Subscribe(&sub, nc, s.c_str(), &impl::on_msg, this);
      if (st != NATS_OK) {
        spdlog::warn("event=nats_subscribe_failed subject={} status=\"{}\"", s,
                     natsStatus_GetText(st));
        sub = nullptr;
      }
      made.emplace_back(s, sub);
    }
    if (!made.empty()) {
      // After the flush the server has every subscription (when disconnected it fails:
      // the library subscribes again on reconnect, and the reconnect runs on_lost).
      natsConnection_FlushTimeout(nc, kFlushTimeoutMs);
    }
    std::vector<std::function<void()>> ready;
    std::vector<natsSubscription*> orphans;
    {
      std::lock_guard lk(mu);
      for (auto& [s, sub] : made) {
        auto it = subjects.find(s);
        if (it == subjects.end()) {  // unwanted meanwhile, and erased
          if (sub) orphans.push_back(sub);
          continue;
        }
        it->second.sub = sub;
        it->second.subscribing = false;
        it->second.confirmed = true;
        for (auto& w : it->second.waiting)
          if (--w->first == 0) ready.push_back(std::move(w->second));
        it->second.waiting.clear();
        if (it->second.refs == 0) reconcile.push_back(s);
      }
    }
    for (auto* sub : orphans) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    for (auto& f : ready) f();
  }

  bool want_subjects(const std::vector<std::string>& ss, std::function<void()> ready) {
    std::lock_guard lk(mu);
    std::vector<interest*> pending;
    for (const auto& s : ss) {
      auto& in = subjects[s];
      if (in.refs++ == 0 && !in.sub && !in.subscribing) reconcile.push_back(s);
      if (!in.confirmed) pending.push_back(&in);
    }
    if (pending.empty()) return true;
    auto w = std::make_shared<std::pair<std::size_t, std::function<void()>>>(pending.size(),
                                                                             std::move(ready));
    for (auto* in : pending) in->waiting.push_back(w);
    cv.notify_all();
    return false;
  }

  void unwant_subjects(const std::vector<std::string>& ss) {
    std::lock_guard lk(mu);
    for (const auto& s : ss) {
      auto it = subjects.find(s);
      if (it == subjects.end() || it->second.refs == 0) continue;
      if (--it->second.refs == 0) reconcile.push_back(s);
    }
    cv.notify_all();
  }
};

nats_bus::nats_bus(nats_options o) : p_(std::make_unique<impl>()) {
  static std::once_flag pool_once;
  // One delivery thread for every subscription: messages are handled in arrival order.
  std::call_once(pool_once, [] { nats_SetMessageDeliveryPoolSize(1); });
  p_->opt = std::move(o);
  auto* p = p_.get();
  auto check = [](natsStatus s, const char* what) {
    if (s != NATS_OK)
      throw std::runtime_error(std::string("nats: ") + what + ": " + natsStatus_GetText(s));
  };
  check(natsOptions_Create(&p->nopts), "options");
  std::vector<std::string> urls;
  std::string_view rest = p->opt.url;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto u = rest.substr(0, comma);
    while (!u.empty() && u.front() == ' ') u.remove_prefix(1);
    while (!u.empty() && u.back() == ' ') u.remove_suffix(1);
    if (!u.empty()) urls.emplace_back(u);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (urls.empty()) throw std::runtime_error("nats: no server URL");
  std::vector<const char*> cu;
  for (const auto& u : urls) cu.push_back(u.c_str());
  check(natsOptions_SetServers(p->nopts, cu.data(), static_cast<int>(cu.size())), "servers");
  check(natsOptions_SetName(p->nopts, ("parley " + p->opt.node_id).c_str()), "name");
  check(natsOptions_SetNoEcho(p->nopts, true), "no echo");
  check(natsOptions_SetMaxReconnect(p->nopts, -1), "max reconnect");
  check(natsOptions_SetReconnectWait(p->nopts, p->opt.reconnect_wait.count()), "reconnect wait");
  check(natsOptions_SetReconnectJitter(p->nopts, 100, 1000), "reconnect jitter");
  check(natsOptions_SetReconnectBufSize(p->nopts, kReconnectBufBytes), "reconnect buffer");
  check(natsOptions_SetPingInterval(p->nopts, 2000), "ping interval");
  check(natsOptions_SetMaxPingsOut(p->nopts, 3), "pings out");
  check(natsOptions_UseGlobalMessageDelivery(p->nopts, true), "global delivery");
  check(natsOptions_SetErrorHandler(p->nopts, &impl::on_error, p), "error handler");
  check(natsOptions_SetDisconnectedCB(p->nopts, &impl::on_disconnected, p), "disconnected");
  check(natsOptions_SetReconnectedCB(p->nopts, &impl::on_connected, p), "reconnected");
  check(natsOptions_SetClosedCB(p->nopts, &impl::on_closed, p), "closed");
  check(natsOptions_SetRetryOnFailedConnect(p->nopts, true, &impl::on_connected, p), "retry");
  auto s = natsConnection_Connect(&p->nc, p->nopts);
  if (s == NATS_OK) {
    p->up = true;
  } else if (s == NATS_NOT_YET_CONNECTED) {
    spdlog::warn("event=nats_not_connected node={}: retrying in the background", p->opt.node_id);
  } else {
    natsOptions_Destroy(p->nopts);
    throw std::runtime_error(std::string("nats: connect: ") + natsStatus_GetText(s));
  }
  natsSubscription* n = nullptr;
  s = natsConnection_Subscribe(&n, p->nc, "parley.n", &impl::on_msg, p);
  if (s != NATS_OK) {
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->nopts);
    throw std::runtime_error(std::string("nats: subscribe: ") + natsStatus_GetText(s));
  }
  p->fixed.push_back(n);
  p->worker = std::thread([p] { p->run_worker(); });
  // Another node's publishes were dropped: look again at everything.
  subscribe_control("resync", [p](std::string_view) { p->mark_lost(); });
}

void nats_bus::close() {
  {
    std::lock_guard lk(p_->mu);
    if (p_->stopping) return;
    p_->stopping = true;
    p_->cv.notify_all();
  }
  p_->worker.join();
  {
    std::unique_lock g(p_->gate);
    p_->closed = true;
  }
  p_->closing = true;
  natsConnection_Close(p_->nc);
  std::unique_lock lk(p_->closed_mu);
  if (!p_->closed_cv.wait_for(lk, std::chrono::seconds(10), [&] { return p_->closed_cb_done; }))
    spdlog::warn("event=nats_close_slow node={}", p_->opt.node_id);
}

nats_bus::~nats_bus() {
  close();
  // The connection is closed: nothing refers to the subscriptions any more.
  for (auto* s : p_->fixed) natsSubscription_Destroy(s);
  for (auto& [s, in] : p_->subjects)
    if (in.sub) natsSubscription_Destroy(in.sub);
  natsConnection_Destroy(p_->nc);
  natsOptions_Destroy(p_->nopts);
}

void nats_bus::publish(std::vector<committed_event_ptr> events) {
  // Grouped by conversation in commit order: one message per conversation.
  std::vector<std::pair<conv_id, std::vector<committed_event_ptr>>> groups;
  for (const auto& ce : events) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == ce->ev.conv; });
    if (it == groups.end()) {
      groups.emplace_back(ce->ev.conv, std::vector<committed_event_ptr>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(ce);
    for (auto u : joined_users(*ce)) p_->send(user_subject(u), bus_codec::encode_events({ce}));
  }
  for (auto& [c, evs] : groups) {
    auto subject = conv_subject(c);
    std::vector<committed_event_ptr> part;
    std::size_t bytes = 0;
    for (auto& ce : evs) {
      auto size = 64 + ce->ev.data.size() + 8 * ce->recipients.size();
      if (!part.empty() && bytes + size > kMaxMessageBytes) {
        p_->send(subject, bus_codec::encode_events(part));
        part.clear();
        bytes = 0;
      }
      part.push_back(ce);
      bytes += size;
    }
    if (!part.empty()) p_->send(subject, bus_codec::encode_events(part));
  }
  p_->local.publish(std::move(events));
}

void nats_bus::subscribe(handler h) {
  p_->local.subscribe(std::move(h));
}

void nats_bus::publish_notice(conv_id conv, std::vector<user_id> users,
                              std::shared_ptr<const std::string> frame) {
  if (users.empty()) return;
  p_->send(conv ? conv_subject(conv) : std::string("parley.n"),
           bus_codec::encode_notice(users, *frame));
  p_->local.publish_notice(conv, std::move(users), std::move(frame));
}

void nats_bus::subscribe_notices(notice_handler h) {
  p_->local.subscribe_notices(std::move(h));
}

void nats_bus::publish_control(std::string_view topic, std::string payload) {
  p_->publish_control(topic, payload);
}

void nats_bus::subscribe_control(std::string topic, control_handler h) {
  bool first = false;
  {
    std::lock_guard lk(p_->mu);
    auto& hs = p_->control[topic];
    first = hs.empty();
    hs.push_back(std::move(h));
  }
  if (!first) return;
  natsSubscription* sub = nullptr;
  auto s = natsConnection_Subscribe(&sub, p_->nc, ("parley.x." + topic).c_str(), &impl::on_msg,
                                    p_.get());
  if (s != NATS_OK)
    throw std::runtime_error(std::string("nats: subscribe: ") + natsStatus_GetText(s));
  std::lock_guard lk(p_->mu);
  p_->fixed.push_back(sub);
}

const std::string& nats_bus::node_id() const {
  return p_->opt.node_id;
}

bool nats_bus::want(const std::vector<conv_id>& convs, std::function<void()> ready) {
  std::vector<std::string> ss;
  ss.reserve(convs.size());
  for (auto c : convs) ss.push_back(conv_subject(c));
  return p_->want_subjects(ss, std::move(ready));
}

void nats_bus::unwant(const std::vector<conv_id>& convs) {
  std::vector<std::string> ss;
  ss.reserve(convs.size());
  for (auto c : convs) ss.push_back(conv_subject(c));
  p_->unwant_subjects(ss);
}

void nats_bus::want_user(user_id u) {
  p_->want_subjects({user_subject(u)}, [] {});
}

void nats_bus::unwant_user(user_id u) {
  p_->unwant_subjects({user_subject(u)});
}

void nats_bus::on_lost(std::function<void()> h) {
  std::lock_guard lk(p_->mu);
  p_->lost_handlers.push_back(std::move(h));
}

bool nats_bus::connected() const {
  return p_->up.load();
}

bool nats_bus::flush(std::chrono::milliseconds timeout) {
  // Every want() and unwant() so far has been applied once the worker's queue is empty
  // and it is not in the middle of a batch it took from the queue (an UNSUB it has not
  // written yet would otherwise reach the server after the flush's PING).
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lk(p_->mu);
      bool pending = !p_->reconcile.empty() || p_->applying;
      for (const auto& [s, in] : p_->subjects)
        if (in.refs > 0 && !in.confirmed) pending = true;
      if (!pending) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return natsConnection_FlushTimeout(p_->nc, timeout.count()) == NATS_OK;
}

}  // namespace parley
