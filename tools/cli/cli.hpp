// parley-cli: shared declarations (exit codes, the failure type, global settings).
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/error.hpp"

namespace parley::cli {

// Exit codes, listed in `parley-cli --help` (see main.cpp) and docs/sdk.md.
enum exit_code : int {
  exit_ok = 0,
  exit_refused = 1,      // the server refused the request (typed error code printed)
  exit_usage = 2,        // bad command line
  exit_auth = 3,         // not logged in, or the credentials were rejected (unauthenticated)
  exit_unreachable = 4,  // the server could not be reached or did not answer in time
  exit_queued = 5,       // send: not acknowledged in time; the message stays queued
  exit_local = 6,        // the config file or the local store could not be used
};

// A failure that ends the command: printed as "error: <code>: <message>" on stderr.
struct failure : std::runtime_error {
  failure(std::string code, const std::string& message, int exit_status)
      : std::runtime_error(message), code(std::move(code)), status(exit_status) {}
  std::string code;
  int status;
};

// "10 s", "2.5 s".
std::string seconds_text(double s);

// A typed error from the server (or the SDK) as a failure.
failure from_error(const error& e);

// Options shared by every subcommand.
struct globals {
  std::string server;              // --server, empty: from the config file, else 127.0.0.1:8080
  std::string config_path;         // --config, empty: $PARLEY_CLI_CONFIG, else the XDG default
  bool json = false;               // --json: JSON lines on stdout
  double timeout_s = 10;           // --timeout: waiting for the server
  std::string transport = "auto";  // --transport: auto, websocket, sse or poll
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  }
};

}  // namespace parley::cli
