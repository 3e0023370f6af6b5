// Test clients for the HTTP fallback transports (docs/protocol.md, "Server-Sent Events and
// long polling"): a minimal EventSource over a plain socket, one long poll, one POST
// /v1/rpc. Blocking, with timeouts; for tests only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ws_client.hpp"

namespace parley::test {

namespace json = boost::json;

// A minimal EventSource: GET /v1/sse over a plain socket, parsing "id:", "event:" and
// "data:" lines into messages.
class sse_client {
 public:
  struct message {
    std::string id, event, data;
  };
  sse_client(std::uint16_t port, const std::string& token, const std::string& last_event_id = {},
             const std::string& cursor = {}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
    std::string req = "GET /v1/sse" + (cursor.empty() ? "" : "?cursor=" + cursor) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                      "Authorization: Bearer " +
                      token + "\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    ::send(fd_, req.data(), req.size(), 0);
  }
  ~sse_client() { ::close(fd_); }

  // The status line and headers, once.
  std::string head(std::chrono::milliseconds timeout = 5s) {
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (!fill(timeout)) return {};
    auto end = buf_.find("\r\n\r\n");
    auto h = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    return h;
  }
  // The next message (comments and retry lines skipped), or nullopt at the timeout.
  std::optional<message> next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto end = buf_.find("\n\n");
      if (end != std::string::npos) {
        auto block = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        message m;
        bool any = false;
        std::size_t i = 0;
        while (i <= block.size()) {
          auto j = block.find('\n', i);
          if (j == std::string::npos) j = block.size();
          auto line = block.substr(i, j - i);
          i = j + 1;
          auto field = [&](const char* f, std::string& into) {
            std::string p = std::string(f) + ": ";
            if (line.rfind(p, 0) == 0) {
              into = line.substr(p.size());
              any = true;
            }
          };
          field("id", m.id);
          field("event", m.event);
          field("data", m.data);
        }
        if (any && (!m.data.empty() || !m.event.empty())) return m;
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
  }
  // Messages until `n` events ({"ev"} data) arrived; returns them with their ids.
  std::vector<std::pair<std::string, json::object>> events(std::size_t n,
                                                           std::chrono::milliseconds timeout = 5s) {
    std::vector<std::pair<std::string, json::object>> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto m = next(std::max(left, std::chrono::milliseconds(1)));
      if (!m) break;
      if (m->data.empty() || m->event != "") continue;
      auto v = json::parse(m->data).as_object();
      if (v.contains("ev")) out.emplace_back(m->id, v["ev"].as_object());
    }
    return out;
  }

 private:
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char b[65536];
    auto n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) return false;
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

inline json::object poll_once(std::uint16_t port, const std::string& token,
                              const std::string& cursor, int timeout_ms, bool state = false) {
  auto r = http(port, "GET",
                "/v1/poll?timeout_ms=" + std::to_string(timeout_ms) +
                    (cursor.empty() ? "" : "&cursor=" + cursor) + (state ? "&state=1" : ""),
                "", token);
  if (r.status != 200) throw std::runtime_error("poll: " + std::to_string(r.status) + " " + r.body);
  return r.json().as_object();
}

inline std::vector<json::object> events_of(const json::object& poll) {
  std::vector<json::object> out;
  for (const auto& f : poll.at("frames").as_array())
    if (f.as_object().contains("ev")) out.push_back(f.as_object().at("ev").as_object());
  return out;
}

inline json::object rpc(std::uint16_t port, const std::string& token, json::object req) {
  auto r = http(port, "POST", "/v1/rpc", json::serialize(req), token);
  if (r.status != 200) throw std::runtime_error("rpc: " + r.body);
  return r.json().as_object();
}

}  // namespace parley::test
