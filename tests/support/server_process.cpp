#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

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

std::string sanitizer_report(const std::string& log_path, std::streamoff from) {
  std::ifstream in(log_path);
  in.seekg(from);
  std::string line, report;
  int lines = 0;
  while (std::getline(in, line) && lines < 80) {
    bool marker = line.find("ERROR: AddressSanitizer") != std::string::npos ||
                  line.find("ERROR: LeakSanitizer") != std::string::npos ||
                  line.find("Sanitizer: ") != std::string::npos ||  // "WARNING: ThreadSanitizer: "
                  line.find(": runtime error: ") != std::string::npos;  // UBSan
    if (report.empty() && !marker) continue;
    report += line + "\n";
    ++lines;
  }
  return report;
}

server_process::~server_process() {
  if (pid_ > 0 && std::getenv("PARLEY_TEST_SANITIZER")) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "parley did not stop within 60 s of SIGTERM";
        kill9();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      pid_ = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ADD_FAILURE() << "parley exited with status " << status << " on SIGTERM";
    }
  }
  if (pid_ > 0) kill9();
  check_log();
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
    throw std::runtime_error("parley did not start; see " + log_ + "\n" + sanitizer_report(log_));
  }
  port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

int server_process::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  check_log();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void server_process::check_log() {
  // Each report once: a server restarted in the same directory appends to the same log.
  std::error_code ec;
  auto size = static_cast<std::streamoff>(std::filesystem::file_size(log_, ec));
  if (ec) return;
  auto report = sanitizer_report(log_, checked_);
  checked_ = size;
  if (report.empty()) return;
  ADD_FAILURE() << "parley wrote a sanitizer report to " << log_ << ":\n" << report;
}

void server_process::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace parley::test
