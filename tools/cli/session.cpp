#include "session.hpp"

#include <cstdio>

#include "parley/sdk/local_store.hpp"

namespace parley::cli {

namespace json = boost::json;

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

failure from_error(const error& e) {
  std::string msg = e.message.empty() ? std::string(errc_name(e.code)) : e.message;
  if (!e.field.empty()) msg += " (field: " + e.field + ")";
  if (e.retry_after_ms > 0) msg += " (retry after " + std::to_string(e.retry_after_ms) + " ms)";
  return failure(std::string(errc_name(e.code)), msg,
                 e.code == errc::unauthenticated ? exit_auth : exit_refused);
}

namespace {

bool persistent(const std::string& store_path) {
  return !store_path.empty() && store_path != ":memory:";
}

}  // namespace

session::session(session_options o) : opt_(std::move(o)) {
  if (persistent(opt_.store_path)) {
    try {
      sdk::local_store s(opt_.store_path);
      for (const auto& [conv, seq] : s.positions()) original_[conv] = seq;
    } catch (const std::exception& e) {
      throw failure("store", "cannot open the local store " + opt_.store_path + ": " + e.what(),
                    exit_local);
    }
  }
  sdk::client_options co;
  co.host = opt_.server.host;
  co.port = opt_.server.port;
  co.token = opt_.token;
  co.store_path = opt_.store_path;
  co.handshake_timeout = opt_.timeout;
  co.request_timeout = std::max(opt_.timeout, std::chrono::milliseconds(15000));
  co.backoff.base = std::chrono::milliseconds(250);
  co.backoff.cap = opt_.follow ? std::chrono::milliseconds(10000) : std::chrono::milliseconds(2000);
  co.replay_from_join = opt_.replay_from_join;
  co.transports = opt_.transports;

  sdk::client_handlers h;
  h.on_event = [this](const sdk::event& e) {
    {
      std::lock_guard lk(mu_);
      first_.try_emplace(e.conv, e.seq);
      delivered_[e.conv] = e.seq;
    }
    push(e);
  };
  h.on_state = [this](sdk::state s) { push(s); };
  h.on_ack = [this](const sdk::send_ack& a) { push(a); };
  h.on_send_failed = [this](const std::string& cmid, const error& e) {
    push(send_failed{cmid, e});
  };
  h.on_history_lost = [this](std::int64_t conv, std::int64_t from, std::int64_t to) {
    push(lost_history{conv, from, to});
  };
  h.on_auth_failed = [this](const error& e) { push(auth_failed{e}); };
  h.on_typing = [this](const sdk::typing_update& t) { push(t); };
  h.on_presence = [this](const sdk::presence_update& p) { push(p); };
  try {
    client_ = std::make_unique<sdk::client>(std::move(co), std::move(h));
  } catch (const std::exception& e) {
    throw failure("store", "cannot open the local store " + opt_.store_path + ": " + e.what(),
                  exit_local);
  }
  client_->start();
}

session::~session() {
  try {
    stop();
  } catch (...) {
  }
}

void session::push(happening h) {
  std::lock_guard lk(mu_);
  queue_.push_back(std::move(h));
  cv_.notify_all();
}

std::optional<happening> session::next(clock::time_point deadline) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_until(lk, deadline, [&] { return !queue_.empty(); })) return std::nullopt;
  auto h = std::move(queue_.front());
  queue_.pop_front();
  return h;
}

void session::wait_online(clock::time_point deadline) {
  // State changes stay queued for the command; only the current state and an
  // authentication failure matter here, so look without consuming.
  auto rejected = [&]() -> const auth_failed* {
    for (const auto& h : queue_)
      if (auto* a = std::get_if<auth_failed>(&h)) return a;
    return nullptr;
  };
  std::unique_lock lk(mu_);
  bool ready = cv_.wait_until(
      lk, deadline, [&] { return client_->current_state() == sdk::state::online || rejected(); });
  if (auto* a = rejected()) throw from_error(a->err);
  if (!ready)
    throw failure("unreachable",
                  "could not connect to " + opt_.server.str() + " within " +
                      seconds_text(static_cast<double>(opt_.timeout.count()) / 1000) +
                      " (is the server running?)",
                  exit_unreachable);
}

json::object session::call(const std::string& op, json::object args, clock::time_point deadline) {
  wait_online(deadline);
  struct slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<result<json::object>> r;
  };
  auto s = std::make_shared<slot>();
  client_->call(op, std::move(args), [s](result<json::object> r) {
    std::lock_guard lk(s->mu);
    s->r = std::move(r);
    s->cv.notify_all();
  });
  std::unique_lock lk(s->mu);
  if (!s->cv.wait_until(lk, deadline, [&] { return s->r.has_value(); }))
    throw failure("unreachable", "no reply from " + opt_.server.str() + " in time",
                  exit_unreachable);
  if (s->r->ok()) return std::move(s->r->value());
  const auto& e = s->r->err();
  // The SDK reports a lost connection as internal "offline: ...".
  if (e.code == errc::internal && e.message.rfind("offline", 0) == 0)
    throw failure("unreachable", e.message, exit_unreachable);
  throw from_error(e);
}

std::string session::send(std::int64_t conv, const std::string& text, const sdk::send_options& o) {
  try {
    return client_->send(conv, text, o);
  } catch (const std::exception& e) {
    throw failure("store", std::string("cannot queue the message: ") + e.what(), exit_local);
  }
}

void session::shown(const sdk::event& e) {
  std::lock_guard lk(mu_);
  shown_[e.conv] = e.seq;
}

void session::stop() {
  if (stopped_) return;
  stopped_ = true;
  client_->stop();
  if (opt_.rewind && persistent(opt_.store_path)) rewind();
}

void session::rewind() {
  std::unordered_map<std::int64_t, std::int64_t> target;
  {
    std::lock_guard lk(mu_);
    for (const auto& [conv, last] : delivered_) {
      std::int64_t to;
      if (auto s = shown_.find(conv); s != shown_.end()) {
        to = s->second;
      } else if (auto o = original_.find(conv); o != original_.end()) {
        to = o->second;
      } else {
        to = first_[conv] - 1;
      }
      if (to < last) target[conv] = to;
    }
  }
  if (target.empty()) return;
  store_lock lock(opt_.store_path);
  if (!lock.nobody_else()) return;  // a running tail shows these events
  sdk::local_store s(opt_.store_path);
  auto now = s.positions();
  std::lock_guard lk(mu_);
  for (const auto& [conv, to] : target)
    if (now[conv] == delivered_[conv]) s.reset_position(conv, to);
}

}  // namespace parley::cli
