// The ServiceTest fixture: parley::service over a real SQLite store (temp file) and the
// in-process bus, with helpers to sign up users, create groups, send and call operations.
// Shared by the service's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "bus/local_bus.hpp"
#include "core/codec.hpp"
#include "core/crypto.hpp"
#include "core/service.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley::svc_test {

namespace json = boost::json;

inline constexpr const char* kPassword = "correct horse battery";

// A logged-in user as the service sees it.
struct account {
  user u;
  std::string token;
  caller who;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    sqlite::sqlite_options so;
    so.path = db_.path();
    so.synchronous = "normal";
    st_ = std::make_unique<sqlite::sqlite_store>(so);
    bus_.subscribe([this](const std::vector<committed_event_ptr>& evs) {
      std::lock_guard lk(mu_);
      for (const auto& e : evs) published_.push_back(e);
    });
    make_service({});
  }
  void TearDown() override {
    st_->stop();
    svc_.reset();
    st_.reset();
  }

  static service_options base_options() {
    service_options o;
    o.password_cost = pw_cost::minimum;  // run_cpu stays (the default)
    return o;
  }
  // Replaces the service (same store and bus); `tweak` adjusts the options.
  void make_service(std::function<void(service_options&)> tweak) {
    auto o = base_options();
    o.on_logout = [this](device_id d) {
      std::lock_guard lk(mu_);
      logged_out_.push_back(d);
      logout_cv_.notify_all();
    };
    o.on_user_notice = [this](user_id u, std::shared_ptr<const std::string> f) {
      std::lock_guard lk(mu_);
      notices_.emplace_back(u, *f);
    };
    o.on_send_ack = [this](bool duplicate) {
      std::lock_guard lk(mu_);
      acks_.push_back(duplicate);
    };
    if (tweak) tweak(o);
    svc_ = std::make_unique<service>(*st_, bus_, std::move(o));
  }

  // Calls an operation and waits for its reply.
  result<json::object> call(const caller& who, std::string_view op, const json::object& args) {
    auto p = std::make_shared<std::promise<result<std::string>>>();
    auto f = p->get_future();
    svc_->call(who, op, args, [p](result<std::string> r) { p->set_value(std::move(r)); });
    auto r = test::get_or_throw(f, "service reply");
    if (!r) return r.err();
    auto v = json::parse(*r);
    if (!v.is_object()) throw std::runtime_error("reply is not an object: " + *r);
    return v.as_object();
  }
  // Calls an operation that must succeed.
  json::object ok(const caller& who, std::string_view op, const json::object& args = {}) {
    auto r = call(who, op, args);
    if (!r)
      throw std::runtime_error(std::string(op) + " failed: " +
                               std::string(errc_name(r.err().code)) + ": " + r.err().message);
    return *r;
  }
  // Calls an operation that must fail.
  error fail(const caller& who, std::string_view op, const json::object& args = {}) {
    auto r = call(who, op, args);
    if (r)
      throw std::runtime_error(std::string(op) + " unexpectedly succeeded: " + json::serialize(*r));
    return r.err();
  }

  result<device_session> authenticate(const std::string& token) {
    auto p = std::make_shared<std::promise<result<device_session>>>();
    auto f = p->get_future();
    svc_->authenticate(token, [p](result<device_session> r) { p->set_value(std::move(r)); });
    return test::get_or_throw(f, "authenticate");
  }

  account signup(const std::string& handle) {
    caller anon;
    auto reg = ok(anon, "register", {{"handle", handle}, {"password", kPassword}});
    auto login = ok(anon, "login", {{"handle", handle}, {"password", kPassword}});
    account a;
    a.u = {reg["user"].as_object()["id"].as_int64(),
           std::string(reg["user"].as_object()["handle"].as_string())};
    a.token = std::string(login["token"].as_string());
    auto s = authenticate(a.token);
    if (!s) throw std::runtime_error("authenticate failed for " + handle);
    a.who.auth = *s;
    return a;
  }

  // Creates a group owned by `owner` with the given member handles; returns its id.
  conv_id group(const account& owner, std::vector<std::string> members,
                const std::string& title = "team") {
    json::array ms;
    for (auto& m : members) ms.emplace_back(m);
    auto r = ok(owner.who, "conv.create", {{"kind", "group"}, {"title", title}, {"members", ms}});
    return r["conversation"].as_object()["id"].as_int64();
  }

  json::object send(const account& a, conv_id c, const std::string& cmid,
                    const std::string& text = "hello") {
    return ok(a.who, "send", {{"conv", c}, {"client_msg_id", cmid}, {"text", text}});
  }

  json::object history(const account& a, json::object args) { return ok(a.who, "history", args); }

  std::vector<committed_event_ptr> take_published() {
    std::lock_guard lk(mu_);
    return std::exchange(published_, {});
  }

  test::temp_db db_;
  std::unique_ptr<sqlite::sqlite_store> st_;
  local_bus bus_;
  std::unique_ptr<service> svc_;
  std::mutex mu_;
  std::vector<committed_event_ptr> published_;
  std::vector<device_id> logged_out_;
  std::condition_variable logout_cv_;
  std::vector<bool> acks_;                                // on_send_ack calls
  std::vector<std::pair<user_id, std::string>> notices_;  // on_user_notice calls
};

inline std::vector<std::int64_t> seqs(const json::object& page) {
  std::vector<std::int64_t> out;
  for (const auto& e : page.at("events").as_array())
    out.push_back(e.as_object().at("seq").as_int64());
  return out;
}

inline std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto s = from; s <= to; ++s) out.push_back(s);
  return out;
}

// The member object for `handle` in a conversation reply, or null.
inline const json::object* member_of(const json::object& reply, const std::string& handle) {
  for (const auto& m : reply.at("conversation").as_object().at("members").as_array())
    if (m.as_object().at("handle").as_string() == handle) return &m.as_object();
  return nullptr;
}

inline void expect_error(const error& e, errc code, const std::string& field) {
  EXPECT_EQ(errc_name(e.code), errc_name(code)) << e.message;
  EXPECT_EQ(e.field, field) << e.message;
}

}  // namespace parley::svc_test
