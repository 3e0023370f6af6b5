// parley-cli's files: the config file (server, handle, token; mode 0600), the path of the
// SDK's local store next to it, and the lock that tells other invocations a `tail` runs.
#pragma once

#include <cstdint>
#include <string>

#include "cli.hpp"

namespace parley::cli {

struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // "host:port" ("[v6]:port" for IPv6 addresses).
  std::string str() const;
};

// Parses "host:port", "host" (port 8080), "[::1]:port", optionally prefixed by "http://"
// or "ws://". Throws failure (usage) for anything else, including https:// and wss://.
endpoint parse_server(const std::string& s);

struct credentials {
  std::string server;  // "host:port"
  std::string handle;
  std::string token;  // empty when logged out
  std::int64_t user_id = 0;
  std::int64_t device = 0;
  std::int64_t expires_ms = 0;
};

// --config, else $PARLEY_CLI_CONFIG, else $XDG_CONFIG_HOME/parley/cli.json, else
// ~/.config/parley/cli.json.
std::string resolve_config_path(const globals& g);

// Missing file: empty credentials. Unreadable or malformed: failure (config).
credentials load_config(const std::string& path);
// Creates the directory (0700) if needed and replaces the file atomically (mode 0600).
void save_config(const std::string& path, const credentials& c);

// The SDK store for this account: "<config dir>/<handle>@<host>-<port>.db" (one per
// account and server, so a queued message never goes to another server).
std::string store_path_for(const std::string& config_path, const std::string& handle,
                           const endpoint& server);
// Creates the store's directory (0700) and file (0600) if missing, so that SQLite, which
// gives its -wal and -shm files the mode of the database, never makes them readable by
// others.
void prepare_store_file(const std::string& store_path);

// An advisory lock on "<store>.lock". Every running `tail` holds it shared; other
// commands ask whether any tail holds it before they rewind positions they consumed.
class store_lock {
 public:
  explicit store_lock(const std::string& store_path);
  ~store_lock();
  store_lock(const store_lock&) = delete;
  store_lock& operator=(const store_lock&) = delete;
  // Takes the shared lock (a tail is running).
  void hold_shared();
  // Releases what this object holds, then tells whether no other process holds the lock.
  bool nobody_else();

 private:
  int fd_ = -1;
};

}  // namespace parley::cli
