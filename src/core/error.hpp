// Parley's one error vocabulary, shared by the server, the store, the SDK and the
// protocol documentation (docs/protocol.md, "Errors"). Every failure a client can see is
// one of these codes plus a human-readable message; `invalid` also names the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace parley {

enum class errc {
  ok = 0,
  unauthenticated,  // no, unknown, expired or revoked credentials
  forbidden,        // authenticated but not allowed (role too low)
  not_found,        // no such object, or not visible to the caller
  invalid,          // a field is missing, malformed or out of range
  too_large,        // a frame, body or field exceeds a configured limit
  conflict,         // the request contradicts existing state
  rate_limited,     // try again after retry_after_ms
  internal,         // the server failed; nothing was written
};

// Wire name ("not_found"), used in JSON replies and metrics labels.
std::string_view errc_name(errc c);
// HTTP status used by the REST API for this code.
int errc_http_status(errc c);
// The code of a wire name; unknown names are internal.
errc errc_from_name(std::string_view name);
// The code an HTTP status stands for when a reply has no error body.
errc errc_from_http_status(int status);

struct error {
  errc code = errc::internal;
  std::string message;
  std::string field;                // set for errc::invalid when one field is at fault
  std::int64_t retry_after_ms = 0;  // set for errc::rate_limited
};

inline error make_error(errc c, std::string msg, std::string field = {}) {
  return error{c, std::move(msg), std::move(field), 0};
}

// A value or an error. Synchronous APIs return this instead of throwing.
template <class T>
class result {
 public:
  result(T v) : v_(std::move(v)) {}      // NOLINT(google-explicit-constructor)
  result(error e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error& err() const { return std::get<1>(v_); }
  error& err() { return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

struct unit {};

}  // namespace parley
