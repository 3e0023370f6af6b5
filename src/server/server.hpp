// Wires a Parley node together: store, bus, hub, service, I/O threads and the HTTP
// listener; runs until SIGTERM/SIGINT, then shuts down gracefully (stop accepting, close
// clients with 1001, finish in-flight commits, exit 0).
#pragma once

#include <memory>

#include "server/config.hpp"

namespace parley {

class server {
 public:
  // Opens the database and binds the port; throws std::runtime_error on failure.
  explicit server(server_config cfg);
  ~server();
  std::uint16_t port() const;
  // Serves until a termination signal; returns the process exit code.
  int run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley
