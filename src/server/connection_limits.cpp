#include "server/connection_limits.hpp"

namespace parley {

std::unique_ptr<connection_limits::ticket> connection_limits::acquire(const std::string& address) {
  {
    std::lock_guard lk(mu_);
    auto& n = by_address_[address];
    if (per_address_ > 0 && n >= per_address_) {
      if (n == 0) by_address_.erase(address);
      return nullptr;
    }
    ++n;
  }
  return std::unique_ptr<ticket>(new ticket(shared_from_this(), address));
}

bool connection_limits::ticket::add_user(user_id u) {
  if (user_ != 0 || u == 0) return true;
  std::lock_guard lk(owner_->mu_);
  auto& n = owner_->by_user_[u];
  if (owner_->per_user_ > 0 && n >= owner_->per_user_) {
    if (n == 0) owner_->by_user_.erase(u);
    return false;
  }
  ++n;
  user_ = u;
  return true;
}

connection_limits::ticket::~ticket() {
  owner_->release(address_, user_);
}

void connection_limits::release(const std::string& address, user_id u) {
  std::lock_guard lk(mu_);
  if (auto it = by_address_.find(address); it != by_address_.end() && --it->second <= 0)
    by_address_.erase(it);
  if (u != 0)
    if (auto it = by_user_.find(u); it != by_user_.end() && --it->second <= 0) by_user_.erase(it);
}

std::size_t connection_limits::count_of(const std::string& address) {
  std::lock_guard lk(mu_);
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : static_cast<std::size_t>(it->second);
}

std::size_t connection_limits::count_of(user_id u) {
  std::lock_guard lk(mu_);
  auto it = by_user_.find(u);
  return it == by_user_.end() ? 0 : static_cast<std::size_t>(it->second);
}

}  // namespace parley
