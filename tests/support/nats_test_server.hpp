// A throwaway nats-server for the tests: started on a free loopback port (or a given one,
// to restart on the same port), stopped (SIGKILL) when destroyed. The binary comes from
// PARLEY_NATS_SERVER, else /usr/sbin/nats-server (Debian's nats-server package, installed
// by scripts/install-deps.sh); without one, available() is false and tests skip.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

namespace parley::test {

class nats_test_server {
 public:
  static std::string binary() {
    const char* env = std::getenv("PARLEY_NATS_SERVER");
    std::string b = env ? env : "/usr/sbin/nats-server";
    return std::filesystem::exists(b) ? b : std::string();
  }
  static bool available() { return !binary().empty(); }
  static constexpr const char* kMissing =
      "no nats-server (install it with scripts/install-deps.sh, or set PARLEY_NATS_SERVER)";

  explicit nats_test_server(int port = 0) : port_(port ? port : free_port()) { start(); }
  ~nats_test_server() { stop(); }
  nats_test_server(const nats_test_server&) = delete;
  nats_test_server& operator=(const nats_test_server&) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  void start() {
    if (pid_ > 0) return;
    auto bin = binary();
    if (bin.empty()) throw std::runtime_error(kMissing);
    auto port = std::to_string(port_);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Quiet: its log would drown the test output.
      int devnull = ::open("/dev/null", 1);
      if (devnull >= 0) {
        dup2(devnull, 1);
        dup2(devnull, 2);
      }
      execl(bin.c_str(), bin.c_str(), "-a", "127.0.0.1", "-p", port.c_str(), nullptr);
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepting()) {
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw std::runtime_error("nats-server did not start on port " + port);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  bool accepting() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  int port_;
  pid_t pid_ = -1;
};

}  // namespace parley::test
