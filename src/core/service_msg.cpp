// Message operations of parley::service: idempotent send and history pages.
#include <boost/json/serialize.hpp>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/service.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {
constexpr error kOk{errc::ok, {}, {}, 0};

struct send_ack {
  event ev;
  bool duplicate = false;
  // {"conv":..,"seq":..,"id":"..","ts":..,"client_msg_id":"..","duplicate":..}, built
  // directly: this runs once per message.
  std::string render() const {
    std::string out;
    out.reserve(128 + ev.client_msg_id.size());
    out += "{\"conv\":";
    out += std::to_string(ev.conv);
    out += ",\"seq\":";
    out += std::to_string(ev.seq);
    out += ",\"id\":";
    append_json_quoted(out, ev.id);
    out += ",\"ts\":";
    out += std::to_string(ev.ts_ms);
    out += ",\"client_msg_id\":";
    append_json_quoted(out, ev.client_msg_id);
    out += duplicate ? ",\"duplicate\":true}" : ",\"duplicate\":false}";
    return out;
  }
};
}  // namespace

void service::op_send(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto cmid_in = args::str(a, "client_msg_id");
  if (!cmid_in) return done(cmid_in.err());
  auto cmid = check_client_msg_id(*cmid_in);
  if (!cmid) return done(cmid.err());
  auto text_in = args::str(a, "text");
  if (!text_in) return done(text_in.err());
  auto text = check_text(*text_in, "text", 1, opt_.max_text_bytes, true);
  if (!text) return done(text.err());
  auto ack = std::make_shared<send_ack>();
  commit(
      [me, c = *c, cmid = *cmid, text = *text, ack](write_txn& t, emitter& em) -> error {
        // A retry returns the original acknowledgement, even after the sender left.
        if (auto prev = t.find_send_key(me.u.id, cmid)) {
          if (prev->conv != c)
            return make_error(errc::conflict,
                              "client_msg_id was already used for another conversation",
                              "client_msg_id");
          ack->ev.conv = prev->conv;
          ack->ev.seq = prev->seq;
          ack->ev.id = prev->event_id;
          ack->ev.ts_ms = prev->ts_ms;
          ack->ev.client_msg_id = cmid;
          ack->duplicate = true;
          return kOk;
        }
        auto m = t.find_membership(c, me.u.id);
        if (!m) return make_error(errc::not_found, "no such conversation", "conv");
        if (!m->active()) return make_error(errc::forbidden, "you are no longer a member", "conv");
        ack->ev =
            em.emit(t, c, "message.created", me.u.id, "{\"text\":" + json_quote(text) + "}", cmid);
        return kOk;
      },
      [this, ack] {
        if (opt_.on_send_ack) opt_.on_send_ack(ack->duplicate);
        return ack->render();
      },
      std::move(done));
}

void service::op_history(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto before = args::opt_i64(a, "before");
  if (!before) return done(before.err());
  auto after = args::opt_i64(a, "after");
  if (!after) return done(after.err());
  if (*before && *after)
    return done(make_error(errc::invalid, "give before or after, not both", "before"));
  // Cursors are seqs: 0 or more (before: 1 or more), so the +1/-1 below cannot overflow.
  constexpr std::int64_t kMaxSeq = std::int64_t{1} << 53;
  if (*after && (**after < 0 || **after > kMaxSeq))
    return done(make_error(errc::invalid, "after is a seq from 0 to 2^53", "after"));
  if (*before && (**before < 1 || **before > kMaxSeq))
    return done(make_error(errc::invalid, "before is a seq from 1 to 2^53", "before"));
  auto limit_in = args::opt_i64(a, "limit");
  if (!limit_in) return done(limit_in.err());
  auto limit = limit_in->value_or(static_cast<std::int64_t>(opt_.history_page_default));
  if (limit < 1 || limit > static_cast<std::int64_t>(opt_.history_page_max))
    return done(make_error(errc::invalid, "limit is 1 to " + std::to_string(opt_.history_page_max),
                           "limit"));
  store_.read(
      [me, c = *c, before = *before, after = *after, limit, done](read_txn& t) {
        auto m = t.find_membership(c, me.u.id);
        if (!m) return done(make_error(errc::not_found, "no such conversation", "conv"));
        auto conv = t.find_conversation(c);
        seq_t top = m->left_seq.value_or(conv->last_seq);  // former members see up to leaving
        seq_t first = conv->first_seq;
        auto n = static_cast<std::size_t>(limit);
        std::vector<event> evs;
        bool more;
        if (after) {
          evs = t.read_events(c, std::max(*after + 1, first), top, n + 1);
          more = evs.size() > n;
          if (more) evs.pop_back();
        } else {
          seq_t upper = before ? std::min(*before - 1, top) : top;
          evs = t.read_events_desc(c, first, upper, n + 1);
          more = evs.size() > n;
          if (more) evs.pop_back();
          std::reverse(evs.begin(), evs.end());
        }
        std::string out = "{\"events\":" + encode_event_array(evs) +
                          ",\"has_more\":" + (more ? "true" : "false") +
                          ",\"first_seq\":" + std::to_string(first) +
                          ",\"last_seq\":" + std::to_string(top) + "}";
        done(std::move(out));
      },
      [done](const error& e) { done(e); });
}

}  // namespace parley
