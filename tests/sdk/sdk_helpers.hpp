// Helpers shared by the SDK tests against the real server.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "parley/sdk/client.hpp"

namespace parley::test {

// A fresh directory for the tests' local stores.
inline std::string temp_dir() {
  char tmpl[] = "/tmp/parley-sdk-XXXXXX";
  return mkdtemp(tmpl);
}

// Client options for tests: quick backoff, a 5 s heartbeat, a 2 s handshake.
inline parley::sdk::client_options options(std::uint16_t port, const std::string& token,
                                           const std::string& store,
                                           std::vector<parley::sdk::transport> ts = {
                                               parley::sdk::transport::websocket,
                                               parley::sdk::transport::sse,
                                               parley::sdk::transport::long_polling}) {
  parley::sdk::client_options o;
  o.port = port;
  o.token = token;
  o.store_path = store;
  o.backoff = {std::chrono::milliseconds(50), std::chrono::milliseconds(400),
               std::chrono::seconds(5)};
  o.heartbeat_timeout = std::chrono::seconds(5);
  o.handshake_timeout = std::chrono::seconds(2);
  o.transports = std::move(ts);
  return o;
}

}  // namespace parley::test
