#include "server/live_ops.hpp"

#include "core/args.hpp"
#include "server/presence.hpp"
#include "server/typing.hpp"

namespace parley {

bool shows_activity(std::string_view op) {
  return op != "ping" && op != "ack" && op != "sync" && op != "presence" && op != "auth";
}

bool call_live_op(server_context& ctx, const caller& who, std::string_view op,
                  const boost::json::object& a, service::reply done) {
  if (op != "typing" && op != "presence" && op != "presence.get") return false;
  if (!who.auth) {
    done(make_error(errc::unauthenticated, "authenticate first"));
    return true;
  }
  const auto& me = *who.auth;
  if (op == "typing") {
    auto c = args::i64(a, "conv");
    if (!c) return done(c.err()), true;
    bool on = true;
    if (auto v = a.if_contains("typing"); v && !v->is_null()) {
      if (!v->is_bool())
        return done(make_error(errc::invalid, "typing is true or false", "typing")), true;
      on = v->as_bool();
    }
    if (auto ms = ctx.svc->rate_take(rate_class::typing, std::to_string(me.u.id))) {
      auto e = make_error(errc::rate_limited, "typing too often");
      e.retry_after_ms = ms;
      return done(std::move(e)), true;
    }
    ctx.typing->set(me.u.id, *c, on, std::move(done));
    return true;
  }
  if (op == "presence") {
    auto state = args::str(a, "state");
    if (!state) return done(state.err()), true;
    if (*state != "active" && *state != "away")
      return done(make_error(errc::invalid, "state is \"active\" or \"away\"", "state")), true;
    ctx.presence->set_away(me.u.id, me.device, *state == "away");
    done(std::string("{\"state\":\"") + *state + "\"}");
    return true;
  }
  ctx.presence->query(me.u.id, std::move(done));
  return true;
}

}  // namespace parley
