#include "core/service.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/validate.hpp"

namespace parley {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

service::service(store& st, bus& b, service_options opt)
    : store_(st), bus_(b), opt_(std::move(opt)) {
  dummy_hash_ = hash_password("parley-dummy-password", opt_.password_cost);
}

event service::emitter::make(conv_id conv, std::string type, user_id sender, std::string data,
                             std::string client_msg_id) {
  event ev;
  ev.conv = conv;
  ev.ts_ms = now_ms();
  ev.id = time_ordered_id(ev.ts_ms);
  ev.type = std::move(type);
  ev.sender = sender;
  ev.client_msg_id = std::move(client_msg_id);
  ev.data = std::move(data);
  return ev;
}

event& service::emitter::keep(event ev, user_id extra) {
  events_.push_back(std::move(ev));
  extras_.push_back(extra);
  return events_.back();
}

event& service::emitter::emit(write_txn& t, conv_id conv, std::string type, user_id sender,
                              std::string data, std::string client_msg_id, user_id extra) {
  auto ev = make(conv, std::move(type), sender, std::move(data), std::move(client_msg_id));
  t.append_event(ev);
  return keep(std::move(ev), extra);
}

event& service::emitter::emit_message(write_txn& t, conv_id conv, user_id sender, std::string data,
                                      std::string client_msg_id, message_state& m) {
  auto ev = make(conv, "message.created", sender, std::move(data), std::move(client_msg_id));
  t.append_message(ev, m);
  return keep(std::move(ev), 0);
}

void service::emitter::resolve(write_txn& t) {
  recipients_.clear();
  for (std::size_t i = 0; i < events_.size(); ++i) {
    auto ids = t.list_member_ids(events_[i].conv);
    if (extras_[i] != 0 && !std::binary_search(ids.begin(), ids.end(), extras_[i]))
      ids.insert(std::lower_bound(ids.begin(), ids.end(), extras_[i]), extras_[i]);
    recipients_.push_back(std::move(ids));
  }
}

std::vector<committed_event_ptr> service::emitter::finish() {
  std::vector<committed_event_ptr> out;
  out.reserve(events_.size());
  for (std::size_t i = 0; i < events_.size(); ++i) {
    auto ce = std::make_shared<committed_event>();
    ce->frame = std::make_shared<const std::string>(encode_event_frame(events_[i]));
    ce->ev = std::move(events_[i]);
    ce->recipients = std::move(recipients_[i]);
    out.push_back(std::move(ce));
  }
  return out;
}

void service::commit(write_body body, std::function<std::string()> make_reply, reply done) {
  auto em = std::make_shared<emitter>();
  store_.write(
      [body = std::move(body), em](write_txn& t) {
        *em = emitter{};
        auto e = body(t, *em);
        if (e.code == errc::ok) em->resolve(t);
        return e;
      },
      [this, em, make_reply = std::move(make_reply), done = std::move(done)](const error& e) {
        if (e.code != errc::ok) return done(e);
        auto events = em->finish();
        if (!events.empty()) bus_.publish(std::move(events));
        done(make_reply());
      });
}

void service::authenticate(const std::string& token,
                           std::function<void(result<device_session>)> done) {
  if (opt_.jwt && looks_like_jwt(token)) return authenticate_signed(token, std::move(done));
  auto hash = token_hash(token);
  store_.read(
      [hash, done](read_txn& t) {
        auto d = t.find_device_by_token_hash(hash);
        if (!d || d->expires_ms <= now_ms())
          return done(
              make_error(errc::unauthenticated, "the token is unknown, expired or revoked"));
        done(*d);
      },
      [done](const error& e) { done(e); });
}

std::int64_t service::rate_take(rate_class c, std::string_view key) {
  return opt_.limiter ? opt_.limiter->take(c, key) : 0;
}

std::optional<error> service::over_limit(const caller& who, std::string_view op,
                                         const boost::json::object& a) {
  if (!opt_.limiter) return std::nullopt;
  auto refuse = [](std::int64_t ms, std::string what) {
    auto e = make_error(errc::rate_limited, std::move(what));
    e.retry_after_ms = ms;
    return e;
  };
  if (op == "register" || op == "login") {
    if (!who.address.empty())
      if (auto ms = opt_.limiter->take(rate_class::auth_address, who.address))
        return refuse(ms, "too many logins and registrations from this address");
    if (op == "login") {
      auto h = a.find("handle");
      if (h != a.end() && h->value().is_string()) {
        std::string handle(std::string_view(h->value().get_string()).substr(0, 64));
        for (auto& ch : handle)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (auto ms = opt_.limiter->take(rate_class::login_account, handle))
          return refuse(ms, "too many login attempts for this account");
      }
    }
    return std::nullopt;
  }
  if (!who.auth) return std::nullopt;
  if (op == "password") {  // guessing the current password with a stolen token
    if (auto ms = opt_.limiter->take(rate_class::login_account, who.auth->u.handle))
      return refuse(ms, "too many password attempts for this account");
    return std::nullopt;
  }
  const auto uid = std::to_string(who.auth->u.id);
  if (op == "send" || op == "edit" || op == "delete" || op == "react" || op == "unreact") {
    if (auto ms = opt_.limiter->take(rate_class::write, uid)) return refuse(ms, "sending too fast");
  } else if (op == "search") {
    if (auto ms = opt_.limiter->take(rate_class::search, uid))
      return refuse(ms, "searching too fast");
  }
  return std::nullopt;
}

void service::call(const caller& who, std::string_view op, const boost::json::object& a,
                   reply done) {
  if (!who.limits_checked)
    if (auto e = over_limit(who, op, a)) return done(std::move(*e));
  if (op == "register") return op_register(a, std::move(done));
  if (op == "login") return op_login(a, std::move(done));
  if (op == "ping") return done(boost::json::serialize(boost::json::object{{"ts", now_ms()}}));
  static constexpr std::string_view kAuthed[] = {
      "logout",   "password",    "token.refresh", "conv.create",    "conv.list",
      "conv.get", "conv.update", "members.add",   "members.remove", "members.set_role",
      "send",     "history",     "edit",          "delete",         "react",
      "unreact",  "follow",      "unfollow",      "read",           "messages",
      "thread",   "edits",       "threads",       "search",         "ack",
      "receipts", "settings"};
  if (std::find(std::begin(kAuthed), std::end(kAuthed), op) == std::end(kAuthed))
    return done(make_error(errc::invalid, "unknown operation '" + std::string(op) + "'", "op"));
  if (!who.auth) return done(make_error(errc::unauthenticated, "authenticate first"));
  const auto& me = *who.auth;
  if (me.signed_token && (op == "logout" || op == "token.refresh" || op == "password"))
    return done(make_error(errc::forbidden,
                           std::string(op) +
                               " is for Parley's own tokens; this session uses a signed token "
                               "of the external auth service, which manages its lifetime"));
  if (op == "logout") return op_logout(me, std::move(done));
  if (op == "password") return op_password(me, a, std::move(done));
  if (op == "token.refresh") return op_token_refresh(me, std::move(done));
  if (op == "conv.create") return op_conv_create(me, a, std::move(done));
  if (op == "conv.list") return op_conv_list(me, std::move(done));
  if (op == "conv.get") return op_conv_get(me, a, std::move(done));
  if (op == "conv.update") return op_conv_update(me, a, std::move(done));
  if (op == "members.add") return op_members_add(me, a, std::move(done));
  if (op == "members.remove") return op_members_remove(me, a, std::move(done));
  if (op == "members.set_role") return op_members_set_role(me, a, std::move(done));
  if (op == "send") return op_send(me, a, std::move(done));
  if (op == "edit") return op_edit(me, a, std::move(done));
  if (op == "delete") return op_delete(me, a, std::move(done));
  if (op == "react") return op_react(me, a, true, std::move(done));
  if (op == "unreact") return op_react(me, a, false, std::move(done));
  if (op == "follow") return op_follow(me, a, true, std::move(done));
  if (op == "unfollow") return op_follow(me, a, false, std::move(done));
  if (op == "read") return op_read(me, a, std::move(done));
  if (op == "messages") return op_messages(me, a, std::move(done));
  if (op == "thread") return op_thread(me, a, std::move(done));
  if (op == "edits") return op_edits(me, a, std::move(done));
  if (op == "threads") return op_threads(me, a, std::move(done));
  if (op == "search") return op_search(me, a, std::move(done));
  if (op == "ack") return op_ack(me, a, std::move(done));
  if (op == "receipts") return op_receipts(me, a, std::move(done));
  if (op == "settings") return op_settings(me, a, std::move(done));
  return op_history(me, a, std::move(done));
}

void service::notify_user(user_id u, std::string frame) {
  if (opt_.on_user_notice)
    opt_.on_user_notice(u, std::make_shared<const std::string>(std::move(frame)));
}

void service::notify_mentions(const std::vector<user_id>& users, conv_id c, seq_t seq,
                              user_id sender, seq_t thread) {
  for (auto u : users) {
    std::string n = "{\"notice\":\"mention\",\"conv\":" + std::to_string(c) +
                    ",\"seq\":" + std::to_string(seq) + ",\"sender\":" + std::to_string(sender);
    if (thread) n += ",\"thread\":" + std::to_string(thread);
    notify_user(u, n + "}");
  }
}

void service::op_register(const boost::json::object& a, reply done) {
  auto handle = args::str(a, "handle");
  if (!handle) return done(handle.err());
  auto norm = normalize_handle(*handle);
  if (!norm) return done(norm.err());
  auto pw = args::str(a, "password");
  if (!pw) return done(pw.err());
  auto pwc = check_password(*pw);
  if (!pwc) return done(pwc.err());
  opt_.run_cpu([this, h = *norm, pw = *pwc, done = std::move(done)]() mutable {
    auto hash = hash_password(pw, opt_.password_cost);
    auto out = std::make_shared<user>();
    commit(
        [h, hash, out](write_txn& t, emitter&) -> error {
          auto u = t.insert_user(h, hash, now_ms());
          if (!u) return u.err();
          *out = *u;
          return {errc::ok, {}, {}, 0};
        },
        [out] {
          return boost::json::serialize(boost::json::object{{"user", user_json(*out)}});
        },
        std::move(done));
  });
}

void service::op_login(const boost::json::object& a, reply done) {
  auto handle = args::str(a, "handle");
  if (!handle) return done(handle.err());
  auto pw = args::str(a, "password");
  if (!pw) return done(pw.err());
  auto norm = normalize_handle(*handle);
  std::string h = norm ? *norm : std::string();
  store_.read(
      [this, h, pw = *pw, done](read_txn& t) {
        std::optional<credentials> cred;
        if (!h.empty()) cred = t.find_user_by_handle(h);
        opt_.run_cpu([this, cred, pw, done] {
          // A user created by a signed token has no password (an empty hash): no login,
          // with the same work as a wrong password.
          bool has_pw = cred && !cred->password_hash.empty();
          bool ok = verify_password(has_pw ? cred->password_hash : dummy_hash_, pw) && has_pw;
          if (!ok) return done(make_error(errc::unauthenticated, "wrong handle or password"));
          auto token = new_token();
          auto hash = token_hash(token);
          auto expires = now_ms() + opt_.token_ttl_ms;
          auto dev = std::make_shared<device_id>(0);
          commit(
              [u = cred->u, hash, expires, dev](write_txn& t, emitter&) -> error {
                *dev = t.insert_device(u.id, hash, now_ms(), expires);
                return {errc::ok, {}, {}, 0};
              },
              [u = cred->u, token, expires, dev] {
                return boost::json::serialize(boost::json::object{{"token", token},
                                                                  {"user", user_json(u)},
                                                                  {"device", *dev},
                                                                  {"expires_ms", expires}});
              },
              done);
        });
      },
      [done](const error& e) { done(e); });
}

// Changes the password (the current one is required) and revokes every other device of
// the user: their tokens stop working and their connections close (4003). This device
// stays logged in.
void service::op_password(const device_session& me, const boost::json::object& a, reply done) {
  auto old_pw = args::str(a, "old");
  if (!old_pw) return done(old_pw.err());
  auto new_pw = args::str(a, "new");
  if (!new_pw) return done(new_pw.err());
  auto checked = check_password(*new_pw);
  if (!checked) {
    auto e = checked.err();
    e.field = "new";
    return done(e);
  }
  store_.read(
      [this, me, old = *old_pw, nw = *checked, done](read_txn& t) {
        auto cred = t.find_user_by_handle(me.u.handle);
        opt_.run_cpu([this, me, cred, old, nw, done] {
          if (!cred || !verify_password(cred->password_hash, old))
            return done(make_error(errc::forbidden, "the current password is wrong", "old"));
          auto hash = hash_password(nw, opt_.password_cost);
          auto revoked = std::make_shared<std::vector<device_id>>();
          commit(
              [u = me.u.id, keep = me.device, hash, revoked](write_txn& t, emitter&) -> error {
                t.set_password(u, hash);
                *revoked = t.delete_devices_of(u, keep);
                return {errc::ok, {}, {}, 0};
              },
              [revoked] {
                return boost::json::serialize(
                    boost::json::object{{"revoked", static_cast<std::int64_t>(revoked->size())}});
              },
              [this, revoked, done](result<std::string> r) {
                bool ok = r.ok();
                done(std::move(r));
                if (ok && opt_.on_logout)
                  for (auto d : *revoked) opt_.on_logout(d);
              });
        });
      },
      [done](const error& e) { done(e); });
}

// A new token for this device (the old one stops working at once) with a new expiry;
// the device's connections stay open and now expire with the new token.
void service::op_token_refresh(const device_session& me, reply done) {
  auto token = new_token();
  auto hash = token_hash(token);
  auto expires = now_ms() + opt_.token_ttl_ms;
  commit(
      [d = me.device, hash, expires](write_txn& t, emitter&) -> error {
        if (!t.replace_token(d, hash, expires))
          return make_error(errc::unauthenticated, "the token was revoked");
        return {errc::ok, {}, {}, 0};
      },
      [token, expires, d = me.device] {
        return boost::json::serialize(
            boost::json::object{{"token", token}, {"device", d}, {"expires_ms", expires}});
      },
      [this, d = me.device, expires, done](result<std::string> r) {
        bool ok = r.ok();
        done(std::move(r));
        if (ok && opt_.on_token_refreshed) opt_.on_token_refreshed(d, expires);
      });
}

void service::op_logout(const device_session& me, reply done) {
  commit(
      [d = me.device](write_txn& t, emitter&) -> error {
        t.delete_device(d);
        return {errc::ok, {}, {}, 0};
      },
      [] { return std::string("{}"); },
      [this, d = me.device, done = std::move(done)](result<std::string> r) {
        bool ok = r.ok();
        done(std::move(r));  // the reply goes out before the device's sockets close
        if (ok && opt_.on_logout) opt_.on_logout(d);
      });
}

}  // namespace parley
