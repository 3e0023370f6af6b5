// Membership checks shared by the service's operations: who may see and change a
// conversation. A non-member gets not_found, exactly as for an id that was never used, so
// nothing reveals whether a conversation exists.
#pragma once

#include <boost/json/object.hpp>

#include "core/error.hpp"
#include "store/store.hpp"

namespace parley {

inline error no_such_conversation() {
  return make_error(errc::not_found, "no such conversation", "conv");
}

// The caller's active membership, or not_found (never a member) or forbidden (a former
// member).
inline result<membership> require_member(read_txn& t, conv_id c, user_id u) {
  auto m = t.find_membership(c, u);
  if (!m) return no_such_conversation();
  if (!m->active()) return make_error(errc::forbidden, "you are no longer a member", "conv");
  return *m;
}

// The caller's membership, active or former (former members read up to their leaving).
inline result<membership> require_reader(read_txn& t, conv_id c, user_id u) {
  auto m = t.find_membership(c, u);
  if (!m) return no_such_conversation();
  return *m;
}

// The active members (other than the sender) named by @handles, in order.
inline std::vector<user_id> resolve_mentions(read_txn& t, conv_id c, user_id sender,
                                             const std::vector<std::string>& handles) {
  std::vector<user_id> out;
  for (const auto& h : handles) {
    auto u = t.find_user_by_handle(h);
    if (!u || u->u.id == sender) continue;
    auto um = t.find_membership(c, u->u.id);
    if (um && um->active()) out.push_back(u->u.id);
  }
  return out;
}

// Adds read_seq, unread and mentions (the main timeline's) to a conversation object of
// conv.list (service_views.cpp).
void add_unread_counts(read_txn& t, user_id me, const membership& m, boost::json::object& o);

}  // namespace parley
