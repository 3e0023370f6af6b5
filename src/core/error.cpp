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

errc errc_from_name(std::string_view name) {
  for (auto c : {errc::unauthenticated, errc::forbidden, errc::not_found, errc::invalid,
                 errc::too_large, errc::conflict, errc::rate_limited, errc::internal})
    if (errc_name(c) == name) return c;
  return errc::internal;
}

errc errc_from_http_status(int status) {
  for (auto c : {errc::unauthenticated, errc::forbidden, errc::not_found, errc::invalid,
                 errc::too_large, errc::conflict, errc::rate_limited})
    if (errc_http_status(c) == status) return c;
  return errc::internal;
}

}  // namespace parley
