// Conversation and membership operations of parley::service.
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {

const error kOk{errc::ok, {}, {}, 0};

std::string member_event_data(const user& u, role r, user_id by) {
  return boost::json::serialize(
      boost::json::object{{"user", user_json(u)}, {"role", to_string(r)}, {"by", by}});
}

struct conv_reply {
  conversation conv;
  membership mine;
  std::vector<membership> members;
  std::string render() const {
    auto o = conversation_json(conv, mine);
    boost::json::array ms;
    for (const auto& m : members) ms.push_back(member_json(m));
    o["members"] = std::move(ms);
    return boost::json::serialize(boost::json::object{{"conversation", std::move(o)}});
  }
};

void load_conv_reply(read_txn& t, conv_id c, user_id me, conv_reply& out) {
  out.conv = *t.find_conversation(c);
  out.mine = *t.find_membership(c, me);
  out.members = t.list_members(c);
}

// The (conv, user handle) pair every membership operation names.
struct member_target {
  conv_id conv;
  std::string handle;
};
result<member_target> parse_member_target(const boost::json::object& a) {
  auto c = args::i64(a, "conv");
  if (!c) return c.err();
  auto h = args::str(a, "user");
  if (!h) return h.err();
  auto handle = normalize_handle(*h, "user");
  if (!handle) return handle.err();
  return member_target{*c, *handle};
}

// A role a membership operation may grant: "member" or "admin" (never "owner").
result<role> parse_grantable_role(const std::string& s) {
  auto r = parse_role(s);
  if (!r || *r == role::owner)
    return make_error(errc::invalid, "role is \"member\" or \"admin\"", "role");
  return *r;
}

}  // namespace

void service::op_conv_create(const device_session& me, const boost::json::object& a, reply done) {
  auto kind = args::str(a, "kind");
  if (!kind) return done(kind.err());
  auto out = std::make_shared<conv_reply>();
  auto make_reply = [out] { return out->render(); };
  if (*kind == "direct") {
    auto peer = args::str(a, "peer");
    if (!peer) return done(peer.err());
    auto ph = normalize_handle(*peer, "peer");
    if (!ph) return done(ph.err());
    return commit(
        [me, ph = *ph, out](write_txn& t, emitter& em) -> error {
          auto p = t.find_user_by_handle(ph);
          if (!p) return make_error(errc::not_found, "no such user", "peer");
          if (p->u.id == me.u.id)
            return make_error(errc::invalid, "a direct conversation needs another user", "peer");
          if (auto existing = t.find_direct(me.u.id, p->u.id)) {
            load_conv_reply(t, *existing, me.u.id, *out);
            return kOk;
          }
          auto c =
              t.insert_conversation(conv_kind::direct, "", std::pair{me.u.id, p->u.id}, now_ms());
          t.put_member(c, me.u.id, role::member, 1);
          t.put_member(c, p->u.id, role::member, 1);
          boost::json::array ms{member_json(*t.find_membership(c, me.u.id)),
                                member_json(*t.find_membership(c, p->u.id))};
          em.emit(t, c, "conversation.created", me.u.id,
                  boost::json::serialize(boost::json::object{
                      {"kind", "direct"}, {"title", ""}, {"members", std::move(ms)}}));
          load_conv_reply(t, c, me.u.id, *out);
          return kOk;
        },
        make_reply, std::move(done));
  }
  if (*kind != "group")
    return done(make_error(errc::invalid, "kind is \"direct\" or \"group\"", "kind"));
  auto title_in = args::opt_str(a, "title");
  if (!title_in) return done(title_in.err());
  auto title = check_text(title_in->value_or(""), "title", 0, opt_.max_title_bytes, false);
  if (!title) return done(title.err());
  std::vector<std::string> handles;
  if (auto it = a.find("members"); it != a.end() && !it->value().is_null()) {
    if (!it->value().is_array())
      return done(make_error(errc::invalid, "members must be an array of handles", "members"));
    const auto& arr = it->value().get_array();
    if (arr.size() + 1 > opt_.group_max_members)
      return done(make_error(
          errc::too_large,
          "a group has at most " + std::to_string(opt_.group_max_members) + " members", "members"));
    for (const auto& v : arr) {
      if (!v.is_string())
        return done(make_error(errc::invalid, "members must be an array of handles", "members"));
      auto h = normalize_handle(v.get_string(), "members");
      if (!h) return done(h.err());
      handles.push_back(*h);
    }
  }
  commit(
      [me, title = *title, handles, out](write_txn& t, emitter& em) -> error {
        std::vector<user> users{me.u};
        for (const auto& h : handles) {
          auto c = t.find_user_by_handle(h);
          if (!c) return make_error(errc::not_found, "no such user: " + h, "members");
          bool dup = false;
          for (const auto& u : users) dup = dup || u.id == c->u.id;
          if (!dup) users.push_back(c->u);
        }
        auto c = t.insert_conversation(conv_kind::group, title, std::nullopt, now_ms());
        boost::json::array ms;
        for (const auto& u : users) {
          t.put_member(c, u.id, u.id == me.u.id ? role::owner : role::member, 1);
          ms.push_back(member_json(*t.find_membership(c, u.id)));
        }
        em.emit(t, c, "conversation.created", me.u.id,
                boost::json::serialize(boost::json::object{
                    {"kind", "group"}, {"title", title}, {"members", std::move(ms)}}));
        load_conv_reply(t, c, me.u.id, *out);
        return kOk;
      },
      make_reply, std::move(done));
}

void service::op_conv_list(const device_session& me, reply done) {
  store_.read(
      [me, done](read_txn& t) {
        boost::json::array arr;
        for (const auto& [c, m] : t.list_conversations(me.u.id)) {
          auto o = conversation_json(c, m);
          add_unread_counts(t, me.u.id, m, o);
          arr.push_back(std::move(o));
        }
        done(boost::json::serialize(boost::json::object{{"conversations", std::move(arr)}}));
      },
      [done](const error& e) { done(e); });
}

void service::op_conv_get(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  store_.read(
      [me, c = *c, done](read_txn& t) {
        if (!t.find_membership(c, me.u.id)) return done(no_such_conversation());
        conv_reply out;
        load_conv_reply(t, c, me.u.id, out);
        done(out.render());
      },
      [done](const error& e) { done(e); });
}

void service::op_conv_update(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto title_in = args::str(a, "title");
  if (!title_in) return done(title_in.err());
  auto title = check_text(*title_in, "title", 0, opt_.max_title_bytes, false);
  if (!title) return done(title.err());
  auto out = std::make_shared<conv_reply>();
  commit(
      [me, c = *c, title = *title, out](write_txn& t, emitter& em) -> error {
        auto m = require_member(t, c, me.u.id);
        if (!m) return m.err();
        auto conv = t.find_conversation(c);
        if (conv->kind == conv_kind::direct)
          return make_error(errc::invalid, "a direct conversation has no title", "conv");
        if (m->role == role::member)
          return make_error(errc::forbidden, "only admins and the owner can do this");
        t.set_title(c, title);
        em.emit(t, c, "conversation.updated", me.u.id,
                boost::json::serialize(boost::json::object{{"title", title}}));
        load_conv_reply(t, c, me.u.id, *out);
        return kOk;
      },
      [out] { return out->render(); }, std::move(done));
}

void service::op_members_add(const device_session& me, const boost::json::object& a, reply done) {
  auto target = parse_member_target(a);
  if (!target) return done(target.err());
  auto r_in = args::opt_str(a, "role");
  if (!r_in) return done(r_in.err());
  auto r = parse_grantable_role(r_in->value_or("member"));
  if (!r) return done(r.err());
  auto out = std::make_shared<conv_reply>();
  commit(
      [this, me, c = target->conv, handle = target->handle, r = *r, out](write_txn& t,
                                                                         emitter& em) -> error {
        auto m = require_member(t, c, me.u.id);
        if (!m) return m.err();
        if (t.find_conversation(c)->kind == conv_kind::direct)
          return make_error(errc::invalid, "a direct conversation has fixed members", "conv");
        if (m->role == role::member)
          return make_error(errc::forbidden, "only admins and the owner can add members");
        if (r == role::admin && m->role != role::owner)
          return make_error(errc::forbidden, "only the owner can add admins");
        auto target = t.find_user_by_handle(handle);
        if (!target) return make_error(errc::not_found, "no such user", "user");
        if (auto tm = t.find_membership(c, target->u.id); tm && tm->active())
          return make_error(errc::conflict, "already a member", "user");
        if (t.list_member_ids(c).size() + 1 > opt_.group_max_members)
          return make_error(errc::too_large, "the group is full", "user");
        auto& ev =
            em.emit(t, c, "member.joined", me.u.id, member_event_data(target->u, r, me.u.id));
        t.put_member(c, target->u.id, r, ev.seq);
        load_conv_reply(t, c, me.u.id, *out);
        return kOk;
      },
      [out] { return out->render(); }, std::move(done));
}

void service::op_members_remove(const device_session& me, const boost::json::object& a,
                                reply done) {
  auto target = parse_member_target(a);
  if (!target) return done(target.err());
  commit(
      [me, c = target->conv, handle = target->handle](write_txn& t, emitter& em) -> error {
        auto m = require_member(t, c, me.u.id);
        if (!m) return m.err();
        if (t.find_conversation(c)->kind == conv_kind::direct)
          return make_error(errc::invalid, "a direct conversation has fixed members", "conv");
        auto target = t.find_user_by_handle(handle);
        if (!target) return make_error(errc::not_found, "no such user", "user");
        auto tm = t.find_membership(c, target->u.id);
        if (!tm || !tm->active()) return make_error(errc::not_found, "not a member", "user");
        bool self = target->u.id == me.u.id;
        if (!self) {
          if (m->role == role::member || tm->role == role::owner ||
              (tm->role == role::admin && m->role != role::owner))
            return make_error(errc::forbidden, "your role cannot remove this member");
        }
        auto& ev = em.emit(t, c, "member.left", me.u.id,
                           member_event_data(target->u, tm->role, me.u.id), {}, target->u.id);
        t.set_member_left(c, target->u.id, ev.seq);
        if (tm->role == role::owner) {
          // The owner left: the longest-standing admin (else member) becomes owner.
          std::optional<membership> heir;
          for (auto& cand : t.list_members(c)) {
            auto rank = [](const membership& x) {
              return std::pair{x.role != role::admin, x.joined_seq};
            };
            if (!heir || rank(cand) < rank(*heir)) heir = cand;
          }
          if (heir) {
            t.set_member_role(c, heir->u.id, role::owner);
            em.emit(t, c, "member.updated", me.u.id,
                    member_event_data(heir->u, role::owner, me.u.id));
          }
        }
        return kOk;
      },
      [] { return std::string("{}"); }, std::move(done));
}

void service::op_members_set_role(const device_session& me, const boost::json::object& a,
                                  reply done) {
  auto target = parse_member_target(a);
  if (!target) return done(target.err());
  auto r_in = args::str(a, "role");
  if (!r_in) return done(r_in.err());
  auto r = parse_grantable_role(*r_in);
  if (!r) return done(r.err());
  auto out = std::make_shared<conv_reply>();
  commit(
      [me, c = target->conv, handle = target->handle, r = *r, out](write_txn& t,
                                                                   emitter& em) -> error {
        auto m = require_member(t, c, me.u.id);
        if (!m) return m.err();
        if (m->role != role::owner)
          return make_error(errc::forbidden, "only the owner can change roles");
        auto target = t.find_user_by_handle(handle);
        if (!target) return make_error(errc::not_found, "no such user", "user");
        auto tm = t.find_membership(c, target->u.id);
        if (!tm || !tm->active()) return make_error(errc::not_found, "not a member", "user");
        if (tm->role == role::owner)
          return make_error(errc::invalid, "the owner's role cannot change", "user");
        t.set_member_role(c, target->u.id, r);
        em.emit(t, c, "member.updated", me.u.id, member_event_data(target->u, r, me.u.id));
        load_conv_reply(t, c, me.u.id, *out);
        return kOk;
      },
      [out] { return out->render(); }, std::move(done));
}

}  // namespace parley
