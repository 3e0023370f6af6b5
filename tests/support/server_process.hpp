// Runs the real `parley serve` binary (path from $PARLEY_BIN) on an ephemeral port with
// a temporary data directory, for integration tests. The data directory outlives a
// restart (kill -9 then start again) and is removed by the destructor.
//
// Sanitizer builds (tests/sanitize): a server that wrote a sanitizer report to its log fails
// the running test (checked on stop() and in the destructor). With $PARLEY_TEST_SANITIZER set,
// the destructor stops a running server with SIGTERM instead of SIGKILL, so that the leak
// check at exit runs, and fails the test unless it exits with status 0 within 60 s.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ios>
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
  // Fails the running test if the log holds a sanitizer report.
  int stop();
  // SIGKILL and wait.
  void kill9();
  std::uint16_t port() const { return port_; }
  const std::string& data_dir() const { return dir_; }
  const std::string& log_path() const { return log_; }
  bool running() const { return pid_ > 0; }

 private:
  void check_log();
  std::vector<std::string> extra_;
  std::string dir_, log_;
  std::streamoff checked_ = 0;  // the log before this offset has been checked
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// Path of the parley binary under test.
std::string parley_bin();

// The sanitizer report (AddressSanitizer, LeakSanitizer, UBSan, ThreadSanitizer) in a process
// log after byte offset `from`, from its first line on (at most 80 lines), or "" if none.
std::string sanitizer_report(const std::string& log_path, std::streamoff from = 0);

}  // namespace parley::test
