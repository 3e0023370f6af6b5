// Runs the real `parley serve` binary (path from $PARLEY_BIN) on an ephemeral port with
// a temporary data directory, for integration tests. The data directory outlives a
// restart (kill -9 then start again) and is removed by the destructor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace parley::test {

class server_process {
 public:
  // Extra arguments are appended to `parley serve` (e.g. "--set", "limits.x=1").
  explicit server_process(std::vector<std::string> extra_args = {});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  void start();
  // SIGTERM and wait; returns the exit status (or -1 if it did not exit normally).
  int stop();
  // SIGKILL and wait.
  void kill9();
  std::uint16_t port() const { return port_; }
  const std::string& data_dir() const { return dir_; }
  const std::string& log_path() const { return log_; }
  bool running() const { return pid_ > 0; }

 private:
  std::vector<std::string> extra_;
  std::string dir_, log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// Path of the parley binary under test.
std::string parley_bin();

}  // namespace parley::test
