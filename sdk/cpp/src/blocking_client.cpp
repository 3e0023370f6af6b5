#include "parley/sdk/blocking_client.hpp"

namespace parley::sdk {

client_handlers blocking_client::handlers() {
  client_handlers h;
  h.on_event = [this](const event& e) {
    std::lock_guard lk(mu_);
    events_.push_back(e);
    cv_.notify_all();
  };
  h.on_state = [this](state) {
    std::lock_guard lk(mu_);
    cv_.notify_all();
  };
  h.on_ack = [this](const send_ack& a) {
    std::lock_guard lk(mu_);
    acks_.push_back(a);
    cv_.notify_all();
  };
  h.on_send_failed = [this](const std::string& cmid, const error& e) {
    std::lock_guard lk(mu_);
    failures_.emplace_back(cmid, e);
    cv_.notify_all();
  };
  h.on_notice = [this](const boost::json::object& n) {
    std::lock_guard lk(mu_);
    notices_.push_back(n);
    cv_.notify_all();
  };
  h.on_receipts = [this](const receipt_update& r) {
    std::lock_guard lk(mu_);
    receipts_.push_back(r);
    cv_.notify_all();
  };
  h.on_typing = [this](const typing_update& t) {
    std::lock_guard lk(mu_);
    typing_.push_back(t);
    cv_.notify_all();
  };
  h.on_presence = [this](const presence_update& p) {
    std::lock_guard lk(mu_);
    presence_.push_back(p);
    cv_.notify_all();
  };
  h.on_auth_failed = [this](const error& e) {
    std::lock_guard lk(mu_);
    auth_error_ = e;
    cv_.notify_all();
  };
  return h;
}

blocking_client::blocking_client(client_options opt) : c_(std::move(opt), handlers()) {
  c_.start();
}

blocking_client::~blocking_client() {
  c_.stop();
}

bool blocking_client::wait_online(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] {
    return c_.current_state() == state::online || auth_error_;
  }) && !auth_error_;
}

result<boost::json::object> blocking_client::call(const std::string& op, boost::json::object args,
                                                  std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!wait_online(timeout)) return make_error(errc::internal, "offline: not connected");
  auto shared = std::make_shared<std::tuple<std::mutex, std::condition_variable,
                                            std::optional<result<boost::json::object>>>>();
  c_.call(op, std::move(args), [shared](result<boost::json::object> r) {
    auto& [m, cv, out] = *shared;
    std::lock_guard lk(m);
    out = std::move(r);
    cv.notify_all();
  });
  // Not a structured binding: clang 14 cannot capture one in the lambda below.
  auto& sm = std::get<0>(*shared);
  auto& scv = std::get<1>(*shared);
  auto& sout = std::get<2>(*shared);
  std::unique_lock lk(sm);
  if (!scv.wait_until(lk, deadline, [&] { return sout.has_value(); }))
    return make_error(errc::internal, "timed out waiting for the reply");
  return std::move(*sout);
}

bool blocking_client::wait_outbox_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return c_.outbox_size() == 0; });
}

std::optional<event> blocking_client::next_event(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  auto e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::vector<event> blocking_client::events(std::size_t n, std::chrono::milliseconds timeout) {
  std::vector<event> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(mu_);
  while (out.size() < n) {
    if (!cv_.wait_until(lk, deadline, [&] { return !events_.empty(); })) break;
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return out;
}

std::vector<send_ack> blocking_client::acks() {
  std::lock_guard lk(mu_);
  return acks_;
}

std::vector<std::pair<std::string, error>> blocking_client::failures() {
  std::lock_guard lk(mu_);
  return failures_;
}

std::vector<boost::json::object> blocking_client::notices() {
  std::lock_guard lk(mu_);
  return notices_;
}

std::vector<receipt_update> blocking_client::receipt_updates() {
  std::lock_guard lk(mu_);
  return receipts_;
}

std::vector<typing_update> blocking_client::typing_updates() {
  std::lock_guard lk(mu_);
  return typing_;
}

std::vector<presence_update> blocking_client::presence_updates() {
  std::lock_guard lk(mu_);
  return presence_;
}

bool blocking_client::wait_for(const std::function<bool(blocking_client&)>& pred,
                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred(*this)) return true;  // takes mu_ itself through the accessors
    std::unique_lock lk(mu_);
    if (cv_.wait_until(lk, deadline) == std::cv_status::timeout) {
      lk.unlock();
      return pred(*this);
    }
  }
}

}  // namespace parley::sdk
