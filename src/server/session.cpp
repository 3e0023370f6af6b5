#include "server/session.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>
#include <iterator>

#include "bus/bus.hpp"
#include "core/codec.hpp"
#include "server/hub.hpp"
#include "server/live_ops.hpp"
#include "server/presence.hpp"
#include "server/typing.hpp"

namespace parley {

namespace {
constexpr std::size_t kMaxIdBytes = 64;

// The cursor map is a vector of (conversation, seq) sorted by conversation.
template <class Map>
auto cursor_lower(Map& m, conv_id c) {
  return std::lower_bound(m.begin(), m.end(), c,
                          [](const auto& kv, conv_id k) { return kv.first < k; });
}

template <class Map>
auto cursor_find(Map& m, conv_id c) {
  auto it = cursor_lower(m, c);
  return it != m.end() && it->first == c ? it : m.end();
}

// Like std::map::try_emplace.
template <class Map>
std::pair<typename Map::iterator, bool> cursor_emplace(Map& m, conv_id c, seq_t s) {
  auto it = cursor_lower(m, c);
  if (it != m.end() && it->first == c) return {it, false};
  return {m.insert(it, {c, s}), true};
}

std::string error_json(const error& e) {
  boost::json::object o{{"code", errc_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) o["field"] = e.field;
  if (e.code == errc::rate_limited) o["retry_after_ms"] = e.retry_after_ms;
  return boost::json::serialize(o);
}
}  // namespace

struct session::round_result {
  struct gap {
    conv_id conv;
    seq_t from, to;
  };
  std::vector<gap> gaps;
  std::vector<std::pair<conv_id, seq_t>> start_at;  // cursors to set without replay
  std::vector<std::pair<conv_id, seq_t>> resets;    // cursors beyond the log's end
  std::vector<conv_id> visible;                     // conversations the user is or was in
  std::vector<event> events;
  bool more = false;
  std::optional<error> failure;
};

session::session(server_context& ctx, executor_type ex, std::shared_ptr<frame_sink> sink)
    : ctx_(ctx), ex_(std::move(ex)), sink_(std::move(sink)) {}

void session::send_frame(std::shared_ptr<const std::string> f) {
  if (sink_) sink_->send(std::move(f));
}

namespace {

// Milliseconds since the process started (wraps after 49 days; only differences are used).
std::uint32_t now_ms32() {
  static const auto t0 = std::chrono::steady_clock::now();
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
}

}  // namespace

void session::reply(const std::string& id_text, const result<std::string>& r) {
  std::string f = "{\"id\":" + id_text;
  if (r) {
    f += ",\"result\":" + *r + "}";
  } else {
    ctx_.m->count_error(r.err().code);
    f += ",\"error\":" + error_json(r.err()) + "}";
  }
  send_frame(std::make_shared<const std::string>(std::move(f)));
  if (!r && r.err().code == errc::rate_limited) note_refusal();
}

// A connection that keeps going after many refusals is closed: it is not a client that
// backs off (retry_after_ms), and each refusal still costs the server.
void session::note_refusal() {
  const auto limit = ctx_.cfg.rate_abuse_refusals;
  if (limit <= 0 || !ctx_.svc->options().limiter) return;
  const auto now = now_ms32();
  if (now - refused_since_ms_ > 10000) {
    refused_since_ms_ = now;
    refused_ = 0;
  }
  if (++refused_ >= limit) {
    spdlog::info("event=rate_abuse_close user={} refusals={}", uid(), refused_);
    close(close_code::rate_limited, "rate limited: too many refused requests");
  }
}

// The connection's own bucket (rate.connection_per_s, rate.connection_burst): 0, or the
// milliseconds until a request may come.
std::int64_t session::take_connection_token() {
  const auto& c = ctx_.cfg;
  const auto burst = static_cast<float>(c.rate_connection_burst);
  const auto now = now_ms32();
  if (conn_tokens_ < 0) {
    conn_tokens_ = burst;
  } else {
    conn_tokens_ =
        std::min(burst, conn_tokens_ + static_cast<float>(now - conn_last_ms_) *
                                           static_cast<float>(c.rate_connection_per_s) / 1000.0f);
  }
  conn_last_ms_ = now;
  if (conn_tokens_ >= 1) {
    conn_tokens_ -= 1;
    return 0;
  }
  return std::max<std::int64_t>(
      1, static_cast<std::int64_t>((1 - conn_tokens_) * 1000 / c.rate_connection_per_s) + 1);
}

void session::set_auth(device_session d) {
  auth_ = std::move(d);
  ctx_.h->add(shared_from_this());
  if (ctx_.presence) ctx_.presence->connected(auth_->u.id, auth_->device);
  if (ctx_.b && ctx_.b->clustered()) {
    ctx_.b->want_user(auth_->u.id);
    wanted_ = std::make_unique<std::vector<conv_id>>();
  }
}

void session::want_conversations(const std::vector<conv_id>& visible) {
  std::vector<conv_id> fresh;
  for (auto c : visible)
    if (!std::binary_search(wanted_->begin(), wanted_->end(), c)) fresh.push_back(c);
  if (fresh.empty()) return;
  std::sort(fresh.begin(), fresh.end());
  fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
  std::vector<conv_id> merged;
  merged.reserve(wanted_->size() + fresh.size());
  std::merge(wanted_->begin(), wanted_->end(), fresh.begin(), fresh.end(),
             std::back_inserter(merged));
  *wanted_ = std::move(merged);
  // Events committed on other nodes before the bus delivers these conversations are read
  // from the store once it does.
  auto ready = [w = weak_from_this(), ex = ex_] {
    boost::asio::post(ex, [w] {
      if (auto s = w.lock()) s->resync();
    });
  };
  ctx_.b->want(fresh, std::move(ready));
}

void session::resync() {
  if (!sink_ || mode_ == mode::idle) return;
  mode_ = mode::catching_up;
  dirty_ = true;
  if (!round_running_) run_round();
}

void session::reject_oversize(std::size_t bytes) {
  reply("null", make_error(errc::too_large,
                           "frame of " + std::to_string(bytes) + " bytes exceeds the limit of " +
                               std::to_string(ctx_.cfg.max_frame_bytes),
                           "frame"));
}

void session::on_frame(std::string_view text) {
  ctx_.m->frames_in_total.fetch_add(1, std::memory_order_relaxed);
  boost::json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code ec;
  // The request is parsed into a stack arena: nothing of it outlives this call (operations
  // copy what they keep before dispatch returns), so parsing allocates nothing for a
  // typical request (larger ones take extra blocks, freed on return).
  unsigned char arena[4096];
  boost::json::monotonic_resource mr(arena, sizeof arena);
  auto v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec, &mr, po);
  if (ec)
    return reply(
        "null", make_error(errc::invalid, "the frame is not valid JSON: " + ec.message(), "frame"));
  if (!v.is_object())
    return reply("null", make_error(errc::invalid, "a request is a JSON object", "frame"));
  auto& obj = v.get_object();
  std::string id_text = "null";
  auto idv = obj.find("id");
  if (idv == obj.end() ||
      !(idv->value().is_string() || idv->value().is_int64() || idv->value().is_uint64()))
    return reply("null", make_error(errc::invalid, "id must be a string or an integer", "id"));
  if (idv->value().is_string() && idv->value().get_string().size() > kMaxIdBytes)
    return reply("null", make_error(errc::invalid, "id has at most 64 characters", "id"));
  id_text = boost::json::serialize(idv->value());
  auto opv = obj.find("op");
  if (opv == obj.end() || !opv->value().is_string())
    return reply(id_text, make_error(errc::invalid, "op must be a string", "op"));
  std::string op(opv->value().get_string());
  obj.erase(idv);
  obj.erase(obj.find("op"));
  dispatch(std::move(id_text), std::move(op), std::move(obj));
}

void session::dispatch(std::string id_text, std::string op, boost::json::object args) {
  if (inflight_ >= static_cast<std::uint64_t>(ctx_.cfg.max_inflight_requests)) {
    auto e =
        make_error(errc::rate_limited, "too many requests awaiting replies on this connection");
    e.retry_after_ms = 50;
    return reply(id_text, e);
  }
  if (ctx_.svc->options().limiter) {
    if (auto ms = take_connection_token()) {
      auto e = make_error(errc::rate_limited, "too many requests on this connection");
      e.retry_after_ms = ms;
      return reply(id_text, e);
    }
  }
  if (op == "auth") return do_auth(std::move(id_text), args);
  if (auth_ && ctx_.presence) {
    // Presence needs to hear of activity, not of every request: at most once a second (its
    // idle time is at least that), so a busy connection does not take its lock per frame.
    // After a presence change the next activity is reported at once.
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    if (op == "presence") {
      activity_reported_ms_ = 0;
    } else if (shows_activity(op) && now - activity_reported_ms_ >= 1000) {
      activity_reported_ms_ = now;
      ctx_.presence->activity(auth_->u.id, auth_->device);
    }
  }
  if (op == "sync") return do_sync(std::move(id_text), args);
  // After a send was refused for now (rate_limited), later sends on this connection are
  // refused too until that one comes again: a client that pipelines its sends and retries
  // in order keeps its order (otherwise a later send could get through first).
  std::string cmid;
  if (op == "send") {
    if (auto c = args.find("client_msg_id"); c != args.end() && c->value().is_string())
      cmid = std::string(c->value().get_string());
    if (held_send_) {
      if (cmid != held_send_->cmid) {
        auto e = make_error(errc::rate_limited,
                            "an earlier send on this connection was refused for now; send it "
                            "again first");
        e.retry_after_ms =
            std::max<std::int64_t>(1, std::int32_t(held_send_->until_ms - now_ms32()));
        return reply(id_text, e);
      }
      held_send_.reset();
    }
  }
  caller who{auth_, {}, false};
  if ((op == "login" || op == "register") && sink_) who.address = sink_->peer_address();
  // Limits are checked here, before the next frame is read, so that a refused send holds
  // the ones behind it at once (a refusal coming back later would let them overtake it).
  if (auto e = ctx_.svc->over_limit(who, op, args)) {
    if (!cmid.empty() && !held_send_)
      held_send_ = std::make_unique<held_send>(
          held_send{cmid, now_ms32() + static_cast<std::uint32_t>(e->retry_after_ms)});
    return reply(id_text, *e);
  }
  who.limits_checked = true;
  ++inflight_;
  service::reply done = [self = shared_from_this(), id_text = std::move(id_text),
                         cmid = std::move(cmid)](result<std::string> r) {
    // Through the hub: after the events committed before this reply, and in the same
    // drain as the other replies and events that arrive while the thread is busy.
    self->ctx_.h->post(*self, [self, id_text, cmid, r = std::move(r)] {
      --self->inflight_;
      if (!r && r.err().code == errc::rate_limited && !cmid.empty() && !self->held_send_)
        self->held_send_ = std::make_unique<held_send>(
            held_send{cmid, now_ms32() + static_cast<std::uint32_t>(r.err().retry_after_ms)});
      self->reply(id_text, r);
    });
  };
  if (call_live_op(ctx_, who, op, args, done)) return;
  ctx_.svc->call(who, op, args, std::move(done));
}

void session::do_auth(std::string id_text, const boost::json::object& args) {
  if (auth_ || auth_pending_)
    return reply(id_text, make_error(errc::conflict, "this connection is already authenticated"));
  auto it = args.find("token");
  if (it == args.end() || !it->value().is_string())
    return reply(id_text, make_error(errc::invalid, "token must be a string", "token"));
  auth_pending_ = true;
  ++inflight_;
  ctx_.svc->authenticate(
      std::string(it->value().get_string()),
      [self = shared_from_this(), id_text](result<device_session> r) {
        boost::asio::post(self->ex_, [self, id_text, r = std::move(r)] {
          --self->inflight_;
          self->auth_pending_ = false;
          if (!r) return self->reply(id_text, r.err());
          if (!self->sink_) return;
          if (self->ticket_ && !self->ticket_->add_user(r->u.id)) {
            self->reply(id_text,
                        make_error(errc::rate_limited, "too many connections open for this user"));
            return self->close(close_code::too_many, "too many connections for this user");
          }
          self->set_auth(*r);
          self->reply(id_text, boost::json::serialize(boost::json::object{{"user", user_json(r->u)},
                                                                          {"device", r->device}}));
        });
      });
}

void session::do_sync(std::string id_text, const boost::json::object& args) {
  if (!auth_) return reply(id_text, make_error(errc::unauthenticated, "authenticate first"));
  cursor_map since;
  auto it = args.find("since");
  bool live_only = it == args.end() || it->value().is_null();
  if (!live_only) {
    if (!it->value().is_object())
      return reply(id_text,
                   make_error(errc::invalid, "since maps conversation ids to seqs", "since"));
    for (const auto& [k, v] : it->value().get_object()) {
      conv_id c = 0;
      auto key = std::string(k);
      auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), c);
      if (ec != std::errc() || p != key.data() + key.size() || c <= 0 || !v.is_int64() ||
          v.get_int64() < 0)
        return reply(id_text, make_error(errc::invalid, "since maps conversation ids to seqs >= 0",
                                         "since"));
      since.emplace_back(c, v.get_int64());
    }
  }
  // Sorted by conversation; of repeated conversations the last entry wins, as in a map.
  std::stable_sort(since.begin(), since.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  cursor_map cursors;
  cursors.reserve(since.size());
  for (const auto& kv : since) {
    if (!cursors.empty() && cursors.back().first == kv.first)
      cursors.back().second = kv.second;
    else
      cursors.push_back(kv);
  }
  if (sync_reply_id_)
    reply(*sync_reply_id_, make_error(errc::conflict, "superseded by a newer sync"));
  cursors_ = std::move(cursors);
  live_only_start_ = live_only;
  sync_reply_id_ = std::make_unique<std::string>(std::move(id_text));
  mode_ = mode::catching_up;
  run_round();
}

void session::run_round() {
  auto gen = ++round_gen_;
  dirty_ = false;
  round_running_ = true;
  auto res = std::make_shared<round_result>();
  auto budget = static_cast<std::size_t>(ctx_.cfg.replay_batch);
  // A round never queues more than half the outbound limit, so replay cannot trip it.
  auto byte_budget = static_cast<std::size_t>(ctx_.cfg.outbound_queue_bytes) / 2;
  ctx_.st->read(
      [self = shared_from_this(), gen, res, cursors = cursors_, me = auth_->u.id,
       live_only = live_only_start_, budget, byte_budget](read_txn& t) mutable {
        for (const auto& [c, m] : t.list_conversations(me)) {
          seq_t top = m.left_seq.value_or(c.last_seq);
          res->visible.push_back(c.id);
          auto it = cursor_find(cursors, c.id);
          seq_t from;
          if (it != cursors.end() && it->second > top) {
            res->resets.emplace_back(c.id, top);  // the client claims more than exists
            continue;
          } else if (it != cursors.end()) {
            from = it->second + 1;
          } else if (live_only) {
            res->start_at.emplace_back(c.id, top);
            continue;
          } else {
            from = m.joined_seq;
          }
          if (from > top) continue;
          if (from < c.first_seq) {
            res->gaps.push_back({c.id, from, c.first_seq - 1});
            from = c.first_seq;
            if (from > top) continue;
          }
          if (budget == 0 || byte_budget == 0) {
            res->more = true;
            break;
          }
          auto evs = t.read_events(c.id, from, top, budget);
          std::size_t taken = 0;
          for (auto& e : evs) {
            auto bytes = e.data.size() + 160;  // the frame's envelope, roughly
            if (taken > 0 && bytes > byte_budget) break;
            byte_budget -= std::min(bytes, byte_budget);
            res->events.push_back(std::move(e));
            ++taken;
          }
          budget -= taken;
          if (taken > 0 && res->events.back().seq < top) res->more = true;
        }
        boost::asio::post(self->ex_, [self, gen, res] { self->finish_round(gen, res); });
      },
      [self = shared_from_this(), gen, res](const error& e) {
        res->failure = e;
        boost::asio::post(self->ex_, [self, gen, res] { self->finish_round(gen, res); });
      });
}

void session::finish_round(std::uint32_t gen, const std::shared_ptr<round_result>& r) {
  if (gen != round_gen_ || !sink_) return;
  if (r->failure && r->failure->code == errc::rate_limited && !sync_reply_id_) {
    // A catch-up round the store refused for now (its queue was full): the same round
    // again shortly. Nothing was delivered from it, and live events meanwhile only mark
    // the session dirty, so nothing is missed; the connection stays open.
    auto t = std::make_shared<boost::asio::steady_timer>(
        ex_, std::chrono::milliseconds(std::max<std::int64_t>(r->failure->retry_after_ms, 10)));
    t->async_wait([self = shared_from_this(), t, gen](const boost::system::error_code& ec) {
      if (!ec && gen == self->round_gen_ && self->sink_) self->run_round();
    });
    return;
  }
  if (r->failure) {
    spdlog::warn("event=sync_failed user={} error=\"{}\"", uid(), r->failure->message);
    if (sync_reply_id_) reply(*sync_reply_id_, *r->failure);
    sync_reply_id_.reset();
    return close(close_code::internal, "sync failed; reconnect and resume");
  }
  for (const auto& g : r->gaps) {
    send_frame(std::make_shared<const std::string>(boost::json::serialize(boost::json::object{
        {"notice", "history_pruned"}, {"conv", g.conv}, {"from_seq", g.from}, {"to_seq", g.to}})));
    auto it = cursor_emplace(cursors_, g.conv, 0).first;
    it->second = std::max(it->second, g.to);
  }
  for (const auto& [c, top] : r->start_at) {
    auto [it, inserted] = cursor_emplace(cursors_, c, top);
    if (!inserted) it->second = std::max(it->second, top);
  }
  for (const auto& [c, top] : r->resets) {
    send_frame(std::make_shared<const std::string>(boost::json::serialize(
        boost::json::object{{"notice", "position_reset"}, {"conv", c}, {"seq", top}})));
    cursor_emplace(cursors_, c, top).first->second = top;
  }
  if (wanted_) want_conversations(r->visible);
  // Positions of conversations the user never belonged to are dropped, not echoed.
  std::erase_if(cursors_, [&](const auto& kv) {
    return std::find(r->visible.begin(), r->visible.end(), kv.first) == r->visible.end();
  });
  for (const auto& e : r->events) {
    auto [it, inserted] = cursor_emplace(cursors_, e.conv, e.seq - 1);
    if (e.seq <= it->second) continue;  // already delivered
    it->second = e.seq;
    send_frame(std::make_shared<const std::string>(encode_event_frame(e)));
    ctx_.m->deliveries_total.fetch_add(1, std::memory_order_relaxed);
    ctx_.m->replayed_total.fetch_add(1, std::memory_order_relaxed);
  }
  live_only_start_ = false;
  bool more = r->more;
  if (sink_)
    sink_->when_drained([self = shared_from_this(), gen, more] { self->after_round(gen, more); });
}

void session::after_round(std::uint32_t gen, bool more) {
  if (gen != round_gen_ || !sink_) return;
  round_running_ = false;
  if (more || dirty_) return run_round();
  mode_ = mode::live;
  if (sync_reply_id_) {
    boost::json::object pos;
    for (const auto& [c, s] : cursors_) pos[std::to_string(c)] = s;
    reply(*sync_reply_id_,
          boost::json::serialize(boost::json::object{{"positions", std::move(pos)}}));
    sync_reply_id_.reset();
    if (send_state_) send_current_state();
  }
}

bool session::on_event(const committed_event_ptr& ce) {
  if (!sink_ || mode_ == mode::idle) return false;
  if (mode_ == mode::catching_up) {
    dirty_ = true;  // the running round, or the next, reads it from the store
    return false;
  }
  auto it = cursor_find(cursors_, ce->ev.conv);
  if (it != cursors_.end() && ce->ev.seq <= it->second) return false;  // duplicate
  if (it == cursors_.end() || ce->ev.seq != it->second + 1) {
    // A conversation new to this session, or a gap: catch up from the store.
    mode_ = mode::catching_up;
    dirty_ = true;
    if (!round_running_) run_round();
    return false;
  }
  it->second = ce->ev.seq;
  send_frame(ce->frame);
  return true;
}

void session::close(std::uint16_t code, const std::string& reason) {
  if (sink_) sink_->close(code, reason);
}

std::string session::cursor_token() const {
  // No positions yet (no conversations when delivery started): everything from the join,
  // so that conversations created before the next poll or reconnect are not skipped as
  // "from now on" would.
  if (cursors_.empty()) return "all";
  std::string out;
  for (const auto& [c, s] : cursors_) {
    if (!out.empty()) out += '-';
    out += std::to_string(c) + "." + std::to_string(s);
  }
  return out;
}

bool session::parse_cursor_token(std::string_view token, boost::json::object& since) {
  since.clear();
  while (!token.empty()) {
    auto dash = token.find('-');
    auto part = token.substr(0, dash);
    auto dot = part.find('.');
    if (dot == std::string_view::npos) return false;
    conv_id c = 0;
    seq_t s = 0;
    auto [p1, e1] = std::from_chars(part.data(), part.data() + dot, c);
    auto [p2, e2] = std::from_chars(part.data() + dot + 1, part.data() + part.size(), s);
    if (e1 != std::errc() || e2 != std::errc() || p1 != part.data() + dot ||
        p2 != part.data() + part.size() || c <= 0 || s < 0)
      return false;
    since[std::to_string(c)] = s;
    if (dash == std::string_view::npos) break;
    token.remove_prefix(dash + 1);
  }
  return true;
}

void session::send_current_state() {
  // Receipts, typing and presence are state, not log: after a (re)sync the client gets
  // them as they are now.
  std::vector<conv_id> convs;
  convs.reserve(cursors_.size());
  for (const auto& [c, s] : cursors_) convs.push_back(c);
  // Each part arrives once (from reader threads); the last one tells the sink it is all in.
  auto parts = std::make_shared<int>(1 + (ctx_.typing ? 1 : 0) + (ctx_.presence ? 1 : 0));
  auto deliver = [self = shared_from_this(), parts](std::vector<std::string> frames) {
    boost::asio::post(self->ex_, [self, parts, frames = std::move(frames)] {
      for (const auto& f : frames)
        if (!f.empty()) self->send_frame(std::make_shared<const std::string>(f));
      if (--*parts == 0 && self->sink_) self->sink_->state_sent();
    });
  };
  if (ctx_.typing) deliver(ctx_.typing->current(auth_->u.id, convs));
  ctx_.svc->receipt_snapshot(*auth_, std::move(convs), deliver);
  if (ctx_.presence)
    ctx_.presence->snapshot(auth_->u.id, [deliver](std::string f) { deliver({std::move(f)}); });
}

void session::on_closed() {
  ticket_.reset();
  if (auth_ && ctx_.presence) ctx_.presence->disconnected(auth_->u.id, auth_->device);
  if (auth_) ctx_.h->remove(this);
  if (auth_ && wanted_) {
    ctx_.b->unwant(*wanted_);
    ctx_.b->unwant_user(auth_->u.id);
    wanted_.reset();
  }
  sink_.reset();
  ++round_gen_;
}

}  // namespace parley
