#include "core/model.hpp"

namespace parley {

const char* to_string(conv_kind k) {
  return k == conv_kind::direct ? "direct" : "group";
}

const char* to_string(role r) {
  switch (r) {
    case role::owner:
      return "owner";
    case role::admin:
      return "admin";
    case role::member:
      return "member";
  }
  return "member";
}

std::optional<role> parse_role(std::string_view s) {
  if (s == "owner") return role::owner;
  if (s == "admin") return role::admin;
  if (s == "member") return role::member;
  return std::nullopt;
}

}  // namespace parley
