// Helpers shared by the integration tests: register and log in users, open synced
// clients, build requests.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "ws_client.hpp"

namespace parley::test {

// Whether `pred` holds within `timeout` (checked every 20 ms).
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct account {
  std::string handle;
  std::string token;
  std::int64_t id = 0;
};

inline account register_and_login(std::uint16_t port, const std::string& handle,
                                  const std::string& password = "correct horse battery") {
  auto body =
      boost::json::serialize(boost::json::object{{"handle", handle}, {"password", password}});
  auto r = http(port, "POST", "/v1/register", body);
  if (r.status != 200) throw std::runtime_error("register " + handle + ": " + r.body);
  auto l = http(port, "POST", "/v1/login", body);
  if (l.status != 200) throw std::runtime_error("login " + handle + ": " + l.body);
  auto j = l.json().as_object();
  return {handle, std::string(j["token"].as_string()), j["user"].as_object()["id"].as_int64()};
}

// A new device (token) for an existing account.
inline std::string login(std::uint16_t port, const std::string& handle,
                         const std::string& password = "correct horse battery") {
  auto body =
      boost::json::serialize(boost::json::object{{"handle", handle}, {"password", password}});
  auto l = http(port, "POST", "/v1/login", body);
  if (l.status != 200) throw std::runtime_error("login " + handle + ": " + l.body);
  return std::string(l.json().as_object()["token"].as_string());
}

// The `since` argument of sync for one conversation.
inline boost::json::object since(std::int64_t conv, std::int64_t seq) {
  return {{std::to_string(conv), seq}};
}

// Connects with the token and syncs live-only (no replay).
inline std::unique_ptr<ws_client> connect_live(std::uint16_t port, const std::string& token) {
  auto c = std::make_unique<ws_client>(port, token);
  c->call({{"op", "sync"}});
  return c;
}

inline std::int64_t create_group(ws_client& c, const std::string& title,
                                 const std::vector<std::string>& members) {
  boost::json::array ms;
  for (const auto& m : members) ms.push_back(boost::json::value(m));
  auto r = c.call({{"op", "conv.create"}, {"kind", "group"}, {"title", title}, {"members", ms}});
  return r["conversation"].as_object()["id"].as_int64();
}

inline boost::json::object send_text(ws_client& c, std::int64_t conv, const std::string& cmid,
                                     const std::string& text) {
  return c.call({{"op", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"text", text}});
}

// Every event of a conversation, paging forward through history.
inline std::vector<boost::json::object> full_history(ws_client& c, std::int64_t conv) {
  std::vector<boost::json::object> out;
  std::int64_t after = 0;
  for (;;) {
    auto h = c.call({{"op", "history"}, {"conv", conv}, {"after", after}, {"limit", 200}});
    for (auto& e : h["events"].as_array()) out.push_back(e.as_object());
    if (!out.empty()) after = out.back()["seq"].as_int64();
    if (!h["has_more"].as_bool()) return out;
  }
}

// A counter or gauge from GET /metrics (labels not supported), or -1 if absent.
inline long metric(std::uint16_t port, const std::string& name) {
  auto r = http(port, "GET", "/metrics");
  auto pos = r.body.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stol(r.body.substr(pos + name.size() + 2));
}

}  // namespace parley::test
