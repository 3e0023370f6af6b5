#include "parley/sdk/client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "link.hpp"
#include "parley/sdk/local_store.hpp"
#include "parley/sdk/sequencer.hpp"
#include "wire_error.hpp"

namespace parley::sdk {

namespace asio = boost::asio;
namespace json = boost::json;
using error_code = boost::system::error_code;

const char* to_string(state s) {
  switch (s) {
    case state::offline:
      return "offline";
    case state::connecting:
      return "connecting";
    case state::online:
      return "online";
    case state::backing_off:
      return "backing_off";
  }
  return "offline";
}

const char* to_string(transport t) {
  switch (t) {
    case transport::websocket:
      return "websocket";
    case transport::sse:
      return "sse";
    case transport::long_polling:
      return "long_polling";
  }
  return "websocket";
}

namespace {

event event_from(const json::object& o) {
  event e;
  e.conv = o.at("conv").as_int64();
  e.seq = o.at("seq").as_int64();
  e.id = o.at("id").as_string();
  e.ts = o.at("ts").as_int64();
  e.type = o.at("type").as_string();
  e.sender = o.at("sender").as_int64();
  if (auto c = o.if_contains("client_msg_id"); c && c->is_string())
    e.client_msg_id = c->as_string();
  if (auto d = o.if_contains("data")) {
    e.data_json = json::serialize(*d);
    if (d->is_object()) {
      const auto& data = d->as_object();
      auto int_of = [&](const char* k) -> std::int64_t {
        auto v = data.if_contains(k);
        return v && v->is_int64() ? v->as_int64() : 0;
      };
      if (auto t = data.if_contains("text"); t && t->is_string()) e.text = t->as_string();
      if (auto t = data.if_contains("emoji"); t && t->is_string()) e.emoji = t->as_string();
      if (auto t = data.if_contains("deleted"); t && t->is_bool()) e.deleted = t->as_bool();
      if (auto t = data.if_contains("mentions"); t && t->is_array())
        for (const auto& m : t->as_array())
          if (m.is_int64()) e.mentions.push_back(m.as_int64());
      e.msg = int_of("msg");
      e.reply_to = int_of("reply_to");
      e.thread = int_of("thread");
      if (auto t = data.if_contains("attachments"); t && t->is_array())
        for (const auto& a : t->as_array()) {
          if (!a.is_object()) continue;
          const auto& ao = a.as_object();
          attachment at;
          auto str = [&](const char* k) {
            auto v = ao.if_contains(k);
            return v && v->is_string() ? std::string(v->as_string()) : std::string();
          };
          auto num = [&](const char* k) -> std::int64_t {
            auto v = ao.if_contains(k);
            return v && v->is_int64() ? v->as_int64() : 0;
          };
          at.id = str("id");
          at.name = str("name");
          at.type = str("type");
          at.size = num("size");
          at.width = static_cast<int>(num("width"));
          at.height = static_cast<int>(num("height"));
          e.attachments.push_back(std::move(at));
        }
    }
  }
  return e;
}

bool permanent(errc c) {
  return c != errc::rate_limited && c != errc::internal;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<impl> {
  enum class call_kind { send, user, fill, ack };
  struct pending_call {
    call_kind kind;
    std::chrono::steady_clock::time_point deadline;
    std::string cmid;                                // send
    std::int64_t conv = 0;                           // fill
    std::function<void(result<json::object>)> done;  // user
  };

  client_options opt;
  client_handlers h;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
  asio::steady_timer retry_timer{io};
  asio::steady_timer tick_timer{io};
  asio::steady_timer upgrade_timer{io};  // back to the first transport after a while
  backoff bo;
  sequencer seqr;

  mutable std::mutex mu;  // guards store, outbox
  local_store store;
  std::deque<outbox_entry> outbox;  // mirror of the store's outbox, oldest first
  std::atomic<state> st{state::offline};
  std::atomic<transport> tr;

  // Connection state: only on the I/O thread.
  std::shared_ptr<detail::link> cur;
  std::size_t tidx = 0;     // index in opt.transports of the transport in use
  int transport_fails = 0;  // attempts in a row on it that reached the server and failed
  std::int64_t next_id = 1;
  std::unordered_map<std::int64_t, pending_call> calls;
  std::size_t sent_upto = 0;  // outbox entries transmitted on this connection
  bool synced = false;
  bool stopped = false;
  bool started = false;
  std::unordered_set<std::int64_t> filling;
  std::unordered_map<std::int64_t, std::int64_t> dirty;
  std::unordered_map<std::int64_t, std::int64_t> to_ack;  // received, not yet acknowledged
  std::chrono::steady_clock::time_point last_ack{};

  impl(client_options o, client_handlers hs)
      : opt(std::move(o)),
        h(std::move(hs)),
        bo(opt.backoff),
        store(opt.store_path.empty() ? ":memory:" : opt.store_path) {
    if (opt.transports.empty()) opt.transports.push_back(transport::websocket);
    tr = opt.transports[0];
    for (auto& e : store.pending()) outbox.push_back(std::move(e));
    for (const auto& [c, s] : store.positions()) seqr.set_position(c, s);
  }

  void set_state(state s) {
    if (st.exchange(s) != s && h.on_state) h.on_state(s);
  }

  void start() {
    started = true;
    thread = std::thread([self = shared_from_this()] { self->io.run(); });
    asio::post(io, [self = shared_from_this()] {
      self->tick();
      self->connect();
    });
  }

  void tick() {
    tick_timer.expires_after(std::chrono::milliseconds(200));
    tick_timer.async_wait([w = weak_from_this()](error_code ec) {
      auto self = w.lock();
      if (ec || !self || self->stopped) return;
      auto now = std::chrono::steady_clock::now();
      bool expired = false;
      for (auto& [id, c] : self->calls) expired = expired || c.deadline <= now;
      if (expired) self->drop("a request timed out");
      self->send_acks(now);
      self->tick();
    });
  }

  void connect() {
    if (stopped) return;
    set_state(state::connecting);
    const transport t = opt.transports[tidx];
    tr = t;
    std::weak_ptr<impl> w = weak_from_this();
    auto holder = std::make_shared<std::weak_ptr<detail::link>>();
    detail::link_events ev;
    // Each handler acts only while its link is the current one.
    ev.message = [w, holder](std::string_view text) {
      auto self = w.lock();
      if (!self || self->cur != holder->lock()) return;
      self->on_link_message(text);
    };
    ev.synced = [w, holder] {
      auto self = w.lock();
      if (!self || self->cur != holder->lock()) return;
      self->on_synced();
    };
    ev.closed = [w, holder](detail::link_closed c) {
      auto self = w.lock();
      if (!self || self->cur != holder->lock()) return;
      self->on_link_closed(std::move(c));
    };
    std::shared_ptr<detail::link> l;
    switch (t) {
      case transport::websocket:
        l = detail::make_ws_link(io, opt, std::move(ev));
        break;
      case transport::sse:
        l = detail::make_sse_link(io, opt, std::move(ev));
        break;
      case transport::long_polling:
        l = detail::make_poll_link(io, opt, std::move(ev));
        break;
    }
    *holder = l;
    cur = l;
    l->start(since());
  }

  // Where delivery starts: the stored positions (conversations without one replay from the
  // join), or from now on for a first start without replay_from_join.
  std::optional<json::object> since() const {
    json::object s;
    for (const auto& [conv, seq] : seqr.positions()) s[std::to_string(conv)] = seq;
    if (!opt.replay_from_join && s.empty()) return std::nullopt;
    return s;
  }

  void on_link_message(std::string_view text) {
    progress();
    try {
      on_message(text);
    } catch (const std::exception& e) {
      // A malformed frame, a local storage failure or a throwing handler: start over
      // from the stored positions rather than lose or repeat events.
      drop(std::string("processing failed: ") + e.what());
    }
  }

  void on_synced() {
    synced = true;
    transport_fails = 0;
    bo.on_connected();
    set_state(state::online);
    if (h.on_transport) h.on_transport(opt.transports[tidx]);
    if (tidx > 0) {
      // On a fallback: try the preferred transport again after a while.
      upgrade_timer.expires_after(opt.transport_retry);
      upgrade_timer.async_wait([w = weak_from_this(), l = cur](error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->stopped || self->cur != l) return;
        self->tidx = 0;
        self->transport_fails = 0;
        self->reconnect_now("trying the preferred transport again");
      });
    }
    flush();
    fill_gaps();
  }

  void on_link_closed(detail::link_closed c) {
    if (c.auth)
      return auth_failed(make_error(errc::unauthenticated, c.code == 4003
                                                               ? "logged out: the token was revoked"
                                                               : "the token was rejected"));
    if (!c.synced && c.reached && ++transport_fails >= opt.fallback_after &&
        tidx + 1 < opt.transports.size()) {
      ++tidx;  // this transport does not get through: the next one, at once
      transport_fails = 0;
      return reconnect_now(c.why);
    }
    drop(c.why);
  }

  std::int64_t request(json::object req, pending_call pc) {
    auto id = next_id++;
    req["id"] = id;
    pc.deadline = std::chrono::steady_clock::now() + opt.request_timeout;
    calls.emplace(id, std::move(pc));
    write(json::serialize(req));
    return id;
  }

  void write(std::string frame) {
    if (cur) cur->request(std::move(frame));
  }

  // Data arrived: requests still waiting are not stuck behind a dead connection (a long
  // replay may come before their replies).
  void progress() {
    auto deadline = std::chrono::steady_clock::now() + opt.request_timeout;
    for (auto& [id, c] : calls) c.deadline = std::max(c.deadline, deadline);
  }

  void on_message(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
      auto j = text.find('\n', i);
      if (j == std::string::npos) j = text.size();
      boost::system::error_code ec;
      auto v = json::parse(text.substr(i, j - i), ec);
      i = j + 1;
      if (ec || !v.is_object()) continue;
      auto& o = v.as_object();
      if (auto ev = o.if_contains("ev"); ev && ev->is_object()) {
        offer(event_from(ev->as_object()));
      } else if (auto n = o.if_contains("notice"); n && n->is_string()) {
        on_notice(o);
      } else if (auto id = o.if_contains("id"); id && id->is_int64()) {
        on_reply(id->as_int64(), o);
      }
    }
    persist_positions();
    fill_gaps();
  }

  void offer(event e) {
    for (auto& d : seqr.offer(std::move(e))) {
      dirty[d.conv] = d.seq;
      if (h.on_event) h.on_event(d);
    }
  }

  void persist_positions() {
    if (dirty.empty()) return;
    if (opt.ack_interval.count() > 0)
      for (const auto& [c, s] : dirty) to_ack[c] = std::max(to_ack[c], s);
    std::lock_guard lk(mu);
    store.save_positions(dirty);
    dirty.clear();
  }

  // Delivery receipts: what was received (and saved) since the last ack, one request.
  void send_acks(std::chrono::steady_clock::time_point now) {
    if (to_ack.empty() || !synced || !cur || now - last_ack < opt.ack_interval) return;
    json::object pos;
    for (const auto& [c, s] : to_ack) pos[std::to_string(c)] = s;
    to_ack.clear();
    last_ack = now;
    request({{"op", "ack"}, {"positions", std::move(pos)}}, {call_kind::ack, {}, {}, 0, {}});
  }

  static std::vector<std::pair<std::int64_t, std::int64_t>> positions_of(const json::object& o,
                                                                         const char* key) {
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    if (auto m = o.if_contains(key); m && m->is_object())
      for (const auto& [k, v] : m->as_object())
        if (v.is_int64()) out.emplace_back(std::stoll(std::string(k)), v.as_int64());
    return out;
  }

  // receipts, typing and presence notices to their handlers.
  bool on_state_notice(std::string_view kind, const json::object& o) {
    auto num = [&o](const char* k) -> std::int64_t {
      auto v = o.if_contains(k);
      return v && v->is_int64() ? v->as_int64() : 0;
    };
    if (kind == "receipts") {
      if (h.on_receipts)
        h.on_receipts(
            {num("conv"), num("thread"), positions_of(o, "delivered"), positions_of(o, "read")});
      return true;
    }
    if (kind == "typing") {
      auto t = o.if_contains("typing");
      if (h.on_typing)
        h.on_typing(
            {num("conv"), num("user"), t && t->is_bool() && t->as_bool(), num("expires_ms")});
      return true;
    }
    if (kind == "presence") {
      if (!h.on_presence) return true;
      auto one = [this](const json::object& p) {
        auto st = p.if_contains("state");
        auto ls = p.if_contains("last_seen");
        h.on_presence({p.at("user").as_int64(),
                       st && st->is_string() ? std::string(st->as_string()) : "",
                       ls && ls->is_int64() ? ls->as_int64() : 0});
      };
      if (auto us = o.if_contains("users"); us && us->is_array()) {
        for (const auto& p : us->as_array())
          if (p.is_object()) one(p.as_object());
      } else if (o.contains("user")) {
        one(o);
      }
      return true;
    }
    return false;
  }

  void on_notice(const json::object& o) {
    auto kind = o.at("notice").as_string();
    if (on_state_notice(kind, o)) return;
    if (kind == "read" || kind == "follow" || kind == "mention") {
      if (h.on_notice) h.on_notice(o);
      return;
    }
    if (o.at("notice").as_string() == "position_reset") {
      auto conv = o.at("conv").as_int64(), seq = o.at("seq").as_int64();
      seqr.set_position(conv, seq);
      dirty.erase(conv);
      std::lock_guard lk(mu);
      store.reset_position(conv, seq);
      return;
    }
    if (o.at("notice").as_string() != "history_pruned") return;
    auto conv = o.at("conv").as_int64();
    auto from = o.at("from_seq").as_int64(), to = o.at("to_seq").as_int64();
    if (seqr.position(conv).value_or(0) < to) {
      seqr.set_position(conv, to);
      dirty[conv] = to;
    }
    if (h.on_history_lost) h.on_history_lost(conv, from, to);
  }

  void fill_gaps() {
    if (!synced) return;
    for (auto conv : seqr.gaps()) {
      if (filling.count(conv)) continue;
      auto g = seqr.gap(conv);
      filling.insert(conv);
      request({{"op", "history"}, {"conv", conv}, {"after", g->first}, {"limit", 200}},
              {call_kind::fill, {}, {}, conv, {}});
    }
  }

  void on_reply(std::int64_t id, json::object& o) {
    auto it = calls.find(id);
    if (it == calls.end()) return;
    auto pc = std::move(it->second);
    calls.erase(it);
    auto* res = o.if_contains("result");
    auto err = o.if_contains("error");
    switch (pc.kind) {
      case call_kind::send: {
        if (res && res->is_object()) {
          auto& r = res->as_object();
          send_ack a{r.at("conv").as_int64(),
                     r.at("seq").as_int64(),
                     std::string(r.at("id").as_string()),
                     r.at("ts").as_int64(),
                     pc.cmid,
                     r.at("duplicate").as_bool()};
          acked(pc.cmid);
          if (h.on_ack) h.on_ack(a);
        } else {
          auto e = err && err->is_object() ? error_from(err->as_object())
                                           : make_error(errc::internal, "bad reply");
          if (!permanent(e.code)) return drop("send rejected for now: " + e.message);
          acked(pc.cmid);
          if (h.on_send_failed) h.on_send_failed(pc.cmid, e);
        }
        flush();
        break;
      }
      case call_kind::ack:
        break;  // a refused ack changes nothing; the next one carries the positions again
      case call_kind::fill:
        filling.erase(pc.conv);
        if (res && res->is_object()) {
          for (auto& ev : res->as_object().at("events").as_array())
            offer(event_from(ev.as_object()));
          persist_positions();
          fill_gaps();
        }
        break;
      case call_kind::user:
        if (res && res->is_object()) {
          pc.done(res->as_object());
        } else {
          pc.done(err && err->is_object() ? error_from(err->as_object())
                                          : make_error(errc::internal, "bad reply"));
        }
        break;
    }
  }

  void acked(const std::string& cmid) {
    std::lock_guard lk(mu);
    for (std::size_t i = 0; i < outbox.size(); ++i) {
      if (outbox[i].client_msg_id != cmid) continue;
      outbox.erase(outbox.begin() + static_cast<std::ptrdiff_t>(i));
      if (i < sent_upto) --sent_upto;
      break;
    }
    store.remove(cmid);
  }

  void flush() {
    if (!synced || !cur) return;
    std::vector<outbox_entry> batch;
    {
      std::lock_guard lk(mu);
      while (sent_upto < outbox.size() && sent_upto < opt.send_window)
        batch.push_back(outbox[sent_upto++]);
    }
    for (auto& e : batch) {
      json::object req{
          {"op", "send"}, {"conv", e.conv}, {"client_msg_id", e.client_msg_id}, {"text", e.text}};
      if (e.reply_to) req["reply_to"] = e.reply_to;
      if (e.thread) req["thread"] = e.thread;
      if (!e.attachments.empty()) req["attachments"] = json::parse(e.attachments);
      request(std::move(req), {call_kind::send, {}, e.client_msg_id, 0, {}});
    }
  }

  void fail_calls() {
    auto pending = std::move(calls);
    calls.clear();
    for (auto& [id, pc] : pending)
      if (pc.kind == call_kind::user)
        pc.done(make_error(errc::internal, "offline: the connection was lost"));
  }

  void close_current() {
    upgrade_timer.cancel();
    if (!cur) return;
    auto c = std::move(cur);
    cur.reset();
    c->close();
  }

  // Forgets the connection's state: requests in flight fail, the outbox is resent.
  void reset_connection() {
    close_current();
    synced = false;
    filling.clear();
    {
      std::lock_guard lk(mu);
      sent_upto = 0;
    }
    fail_calls();
  }

  // The connection failed or was lost: forget per-connection state, back off, retry.
  void drop(const std::string& /*why*/) {
    reset_connection();
    if (stopped) return set_state(state::offline);
    set_state(state::backing_off);
    retry_timer.expires_after(bo.next_delay());
    retry_timer.async_wait([w = weak_from_this()](error_code ec) {
      if (auto self = w.lock(); self && !ec) self->connect();
    });
  }

  // A transport switch: connect again at once, from the positions saved so far.
  void reconnect_now(const std::string& /*why*/) {
    reset_connection();
    if (stopped) return set_state(state::offline);
    asio::post(io, [w = weak_from_this()] {
      if (auto self = w.lock(); self && !self->stopped && !self->cur) self->connect();
    });
  }

  void auth_failed(const error& e) {
    stopped = true;
    close_current();
    synced = false;
    fail_calls();
    retry_timer.cancel();
    set_state(state::offline);
    if (h.on_auth_failed) h.on_auth_failed(e);
  }

  void stop() {
    if (!started) return;
    started = false;
    asio::post(io, [self = shared_from_this()] {
      self->stopped = true;
      self->retry_timer.cancel();
      self->tick_timer.cancel();
      self->close_current();
      self->synced = false;
      self->fail_calls();
      self->set_state(state::offline);
      self->guard.reset();
    });
    if (thread.joinable()) thread.join();
  }
};

client::client(client_options opt, client_handlers h)
    : impl_(std::make_shared<impl>(std::move(opt), std::move(h))) {}

client::~client() {
  stop();
}

void client::start() {
  impl_->start();
}
void client::stop() {
  impl_->stop();
}

std::string client::send(std::int64_t conv, const std::string& text, const send_options& o) {
  std::string cmid;
  {
    std::lock_guard lk(impl_->mu);
    std::string atts;
    if (!o.attachments.empty()) {
      json::array a;
      for (const auto& x : o.attachments) {
        json::object one{{"id", x.id}};
        if (!x.name.empty()) one["name"] = x.name;
        a.push_back(std::move(one));
      }
      atts = json::serialize(a);
    }
    cmid = impl_->store.enqueue(conv, text, o.reply_to, o.thread, atts);
    impl_->outbox.push_back({conv, cmid, text, o.reply_to, o.thread, atts});
  }
  asio::post(impl_->io, [i = impl_] { i->flush(); });
  return cmid;
}

void client::call(const std::string& op, boost::json::object args,
                  std::function<void(result<boost::json::object>)> done) {
  asio::post(impl_->io, [i = impl_, op, args = std::move(args), done = std::move(done)]() mutable {
    if (!i->synced) return done(make_error(errc::internal, "offline: not connected"));
    args["op"] = op;
    i->request(std::move(args), {impl::call_kind::user, {}, {}, 0, std::move(done)});
  });
}

void client::edit(std::int64_t conv, std::int64_t msg, const std::string& text, reply_fn done) {
  call("edit", {{"conv", conv}, {"msg", msg}, {"text", text}}, std::move(done));
}
void client::delete_message(std::int64_t conv, std::int64_t msg, reply_fn done) {
  call("delete", {{"conv", conv}, {"msg", msg}}, std::move(done));
}
void client::react(std::int64_t conv, std::int64_t msg, const std::string& emoji, bool add,
                   reply_fn done) {
  call(add ? "react" : "unreact", {{"conv", conv}, {"msg", msg}, {"emoji", emoji}},
       std::move(done));
}
void client::follow(std::int64_t conv, std::int64_t thread, bool on, reply_fn done) {
  call(on ? "follow" : "unfollow", {{"conv", conv}, {"thread", thread}}, std::move(done));
}
void client::mark_read(std::int64_t conv, std::int64_t seq, std::int64_t thread, reply_fn done) {
  json::object a{{"conv", conv}, {"seq", seq}};
  if (thread) a["thread"] = thread;
  call("read", std::move(a), std::move(done));
}
namespace {
json::object page_args(std::int64_t conv, const page& p) {
  json::object a{{"conv", conv}, {"limit", p.limit}};
  if (p.before) a["before"] = p.before;
  if (p.after) a["after"] = p.after;
  return a;
}
}  // namespace
void client::messages(std::int64_t conv, const page& p, reply_fn done) {
  call("messages", page_args(conv, p), std::move(done));
}
void client::typing(std::int64_t conv, bool on, reply_fn done) {
  call("typing", {{"conv", conv}, {"typing", on}}, std::move(done));
}
void client::set_away(bool away, reply_fn done) {
  call("presence", {{"state", away ? "away" : "active"}}, std::move(done));
}
void client::receipts(std::int64_t conv, std::int64_t thread, reply_fn done) {
  json::object a{{"conv", conv}};
  if (thread) a["thread"] = thread;
  call("receipts", std::move(a), std::move(done));
}
void client::presence(reply_fn done) {
  call("presence.get", {}, std::move(done));
}
void client::settings(std::optional<bool> private_receipts, std::optional<bool> invisible,
                      reply_fn done) {
  json::object a;
  if (private_receipts) a["private_receipts"] = *private_receipts;
  if (invisible) a["invisible"] = *invisible;
  call("settings", std::move(a), std::move(done));
}
void client::thread(std::int64_t conv, std::int64_t root, const page& p, reply_fn done) {
  auto a = page_args(conv, p);
  a["thread"] = root;
  call("thread", std::move(a), std::move(done));
}
void client::search(const search_request& q, reply_fn done) {
  json::object a{{"query", q.query}, {"limit", q.limit}};
  if (q.conv) a["conv"] = q.conv;
  if (!q.sender.empty()) a["sender"] = q.sender;
  if (q.before_ms) a["before"] = q.before_ms;
  if (q.after_ms) a["after"] = q.after_ms;
  if (!q.cursor.empty()) a["cursor"] = q.cursor;
  call("search", std::move(a), std::move(done));
}

state client::current_state() const {
  return impl_->st.load();
}

transport client::current_transport() const {
  return impl_->tr.load();
}

std::size_t client::outbox_size() const {
  std::lock_guard lk(impl_->mu);
  return impl_->outbox.size();
}

std::int64_t client::position(std::int64_t conv) const {
  std::lock_guard lk(impl_->mu);
  auto p = impl_->store.positions();
  auto it = p.find(conv);
  return it == p.end() ? 0 : it->second;
}

}  // namespace parley::sdk
