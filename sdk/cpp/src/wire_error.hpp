// Internal to the SDK: the typed error of a reply's {"code","message","field"?,
// "retry_after_ms"?} object (docs/protocol.md, "Errors").
#pragma once

#include <boost/json/object.hpp>

#include "core/error.hpp"

namespace parley::sdk {

inline error error_from(const boost::json::object& e) {
  error out;
  out.code = errc_from_name(e.contains("code") && e.at("code").is_string()
                                ? std::string_view(e.at("code").as_string())
                                : "internal");
  if (auto m = e.if_contains("message"); m && m->is_string()) out.message = m->as_string();
  if (auto f = e.if_contains("field"); f && f->is_string()) out.field = f->as_string();
  if (auto r = e.if_contains("retry_after_ms"); r && r->is_int64())
    out.retry_after_ms = r->as_int64();
  return out;
}

}  // namespace parley::sdk
