// A TCP proxy in front of the server for transport-fallback tests, modelling what breaks
// WebSockets and streams in the field: a path can be refused (403, as a proxy that does
// not allow upgrades) or buffered (the response is held until it ends, as a proxy that
// buffers event streams), and every proxied connection can be cut at once. Each
// connection's first request decides; a thread per connection pumps bytes both ways.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace parley::test {

class http_proxy {
 public:
  explicit http_proxy(std::uint16_t upstream) : upstream_(upstream) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 64) != 0)
      throw std::runtime_error("proxy: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~http_proxy() {
    stop_ = true;
    ::shutdown(lfd_, SHUT_RDWR);
    ::close(lfd_);
    acceptor_.join();
    cut_all();
    std::vector<std::thread> ts;
    {
      std::lock_guard lk(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }
  http_proxy(const http_proxy&) = delete;
  http_proxy& operator=(const http_proxy&) = delete;

  std::uint16_t port() const { return port_; }
  // Requests to paths starting with `prefix` get 403 from now on.
  void refuse(const std::string& prefix) {
    std::lock_guard lk(mu_);
    refused_.insert(prefix);
  }
  // Responses to paths starting with `prefix` are held back until they end.
  void buffer(const std::string& prefix) {
    std::lock_guard lk(mu_);
    buffered_.insert(prefix);
  }
  void allow_all() {
    std::lock_guard lk(mu_);
    refused_.clear();
    buffered_.clear();
  }
  // Ends every proxied connection (both sides see the TCP connection close).
  void cut_all() {
    std::lock_guard lk(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  // Connections whose first request was to a path starting with `prefix`.
  int requests_to(const std::string& prefix) {
    std::lock_guard lk(mu_);
    int n = 0;
    for (const auto& p : seen_) n += p.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      int c = ::accept(lfd_, nullptr, nullptr);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard lk(mu_);
      open_.insert(c);
      threads_.emplace_back([this, c] { serve(c); });
    }
  }

  bool matches(const std::set<std::string>& set, const std::string& path) {
    for (const auto& p : set)
      if (path.rfind(p, 0) == 0) return true;
    return false;
  }

  void serve(int c) {
    std::string head;
    char buf[16384];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return finish(c, -1);
      head.append(buf, static_cast<std::size_t>(n));
    }
    auto sp1 = head.find(' ');
    auto sp2 = head.find(' ', sp1 + 1);
    std::string path = sp1 == std::string::npos ? "" : head.substr(sp1 + 1, sp2 - sp1 - 1);
    bool refuse = false, hold = false;
    {
      std::lock_guard lk(mu_);
      seen_.push_back(path);
      refuse = matches(refused_, path);
      hold = matches(buffered_, path);
    }
    if (refuse) {
      std::string r = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(c, r.data(), r.size(), MSG_NOSIGNAL);
      return finish(c, -1);
    }
    int u = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(upstream_);
    if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(u);
      return finish(c, -1);
    }
    {
      std::lock_guard lk(mu_);
      open_.insert(u);
    }
    ::send(u, head.data(), head.size(), MSG_NOSIGNAL);
    std::string held;
    pollfd fds[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, 200) < 0) break;
      if (stop_) break;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          done = true;
          break;
        }
        if (i == 1 && hold) {
          held.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        ::send(fds[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
      }
      if (done) break;
    }
    if (!held.empty()) ::send(c, held.data(), held.size(), MSG_NOSIGNAL);
    finish(c, u);
  }

  void finish(int c, int u) {
    std::lock_guard lk(mu_);
    for (int fd : {c, u}) {
      if (fd < 0) continue;
      open_.erase(fd);
      ::close(fd);
    }
  }

  std::uint16_t upstream_, port_ = 0;
  int lfd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> refused_, buffered_;
  std::set<int> open_;
  std::vector<std::string> seen_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace parley::test
