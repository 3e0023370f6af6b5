#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace parley::test {

std::string parley_bin() {
  const char* p = std::getenv("PARLEY_BIN");
  if (!p || !*p) throw std::runtime_error("PARLEY_BIN is not set (run the tests with ctest)");
  return p;
}

server_process::server_process(std::vector<std::string> extra) : extra_(std::move(extra)) {
  char tmpl[] = "/tmp/parley-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  log_ = dir_ + "/server.log";
  start();
}

server_process::~server_process() {
  if (pid_ > 0) kill9();
  if (!std::getenv("PARLEY_KEEP_TEST_DATA")) std::filesystem::remove_all(dir_);
}

void server_process::start() {
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args = {
      parley_bin(), "serve", "--port", std::to_string(port_),       "--data-dir", dir_ + "/data",
      "--threads",  "2",     "--set",  "auth.password_cost=minimum"};
  for (const auto& a : extra_) args.push_back(a);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(out[1], 1);
    int logfd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd >= 0) dup2(logfd, 2);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  // Read the "parley listening on host:port" line.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    auto n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);
  auto colon = line.rfind(':');
  if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
    kill9();
    throw std::runtime_error("parley did not start; see " + log_);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

int server_process::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void server_process::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace parley::test
