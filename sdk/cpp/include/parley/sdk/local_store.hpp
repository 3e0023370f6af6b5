// The client's durable state in one SQLite file: the outbox (sends not yet acknowledged,
// in order, with their client_msg_id) and the inbox positions (last seq processed per
// conversation). WAL with synchronous=NORMAL: every committed change survives the
// application being killed. Not thread-safe: used from the client's own thread, or
// before the client starts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::sdk {

struct outbox_entry {
  std::int64_t conv = 0;
  std::string client_msg_id;
  std::string text;
  std::int64_t reply_to = 0;  // the quoted message's seq; 0: none
  std::int64_t thread = 0;    // the thread root's seq; 0: not a thread reply
  std::string attachments;    // the send's "attachments" array as JSON text; empty: none
};

class local_store {
 public:
  // Opens or creates the file; ":memory:" keeps nothing across restarts.
  explicit local_store(const std::string& path);
  ~local_store();
  local_store(const local_store&) = delete;
  local_store& operator=(const local_store&) = delete;

  // Appends a send; returns its client_msg_id (device prefix + counter, unique forever
  // for this file).
  std::string enqueue(std::int64_t conv, const std::string& text, std::int64_t reply_to = 0,
                      std::int64_t thread = 0, const std::string& attachments = {});
  // Unacknowledged sends, oldest first.
  std::vector<outbox_entry> pending() const;
  std::size_t pending_count() const;
  void remove(const std::string& client_msg_id);

  std::unordered_map<std::int64_t, std::int64_t> positions() const;
  // Stores several positions in one transaction.
  void save_positions(const std::unordered_map<std::int64_t, std::int64_t>& changed);
  // Sets a position even backwards (the server reset it: notice position_reset).
  void reset_position(std::int64_t conv, std::int64_t seq);

  // A key/value slot for applications (the terminal client keeps its token here).
  void put(const std::string& key, const std::string& value);
  std::string get(const std::string& key) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::sdk
