// Open connections per IP address and per user (limits.max_connections_per_address,
// limits.max_connections_per_user), for WebSockets and event streams. A connection holds a
// ticket for as long as it lives; the ticket gives its places back when destroyed.
//
// Thread-safe: one mutex (a leaf lock) over two maps of counts.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/model.hpp"

namespace parley {

class connection_limits : public std::enable_shared_from_this<connection_limits> {
 public:
  class ticket {
   public:
    ~ticket();
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    // Counts the connection for user u too; false (and not counted) if u is at the limit.
    bool add_user(user_id u);

   private:
    friend class connection_limits;
    ticket(std::shared_ptr<connection_limits> owner, std::string address)
        : owner_(std::move(owner)), address_(std::move(address)) {}
    std::shared_ptr<connection_limits> owner_;
    std::string address_;
    user_id user_ = 0;
  };

  // 0: no limit.
  connection_limits(std::int64_t per_address, std::int64_t per_user)
      : per_address_(per_address), per_user_(per_user) {}

  // A ticket for a new connection from `address`, or null if the address is at its limit.
  std::unique_ptr<ticket> acquire(const std::string& address);
  std::size_t count_of(const std::string& address);
  std::size_t count_of(user_id u);

 private:
  void release(const std::string& address, user_id u);

  const std::int64_t per_address_, per_user_;
  std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> by_address_;
  std::unordered_map<user_id, std::int64_t> by_user_;
};

}  // namespace parley
