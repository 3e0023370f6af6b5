#include "core/error.hpp"

namespace parley {

std::string_view errc_name(errc c) {
  switch (c) {
    case errc::ok:
      return "ok";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::forbidden:
      return "forbidden";
    case errc::not_found:
      return "not_found";
    case errc::invalid:
      return "invalid";
    case errc::too_large:
      return "too_large";
    case errc::conflict:
      return "conflict";
    case errc::rate_limited:
      return "rate_limited";
    case errc::internal:
      return "internal";
  }
  return "internal";
}

int errc_http_status(errc c) {
  switch (c) {
    case errc::ok:
      return 200;
    case errc::unauthenticated:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::invalid:
      return 400;
    case errc::too_large:
      return 413;
    case errc::conflict:
      return 409;
    case errc::rate_limited:
      return 429;
    case errc::internal:
      return 500;
  }
  return 500;
}

}  // namespace parley
