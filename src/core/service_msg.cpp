// Message operations of parley::service: idempotent send and history pages.
#include <boost/json/serialize.hpp>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/paging.hpp"
#include "core/service.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {
constexpr error kOk{errc::ok, {}, {}, 0};

struct send_ack {
  event ev;
  bool duplicate = false;
  std::vector<user_id> mentioned;  // who gets a mention notice
  seq_t thread = 0;                // the thread the message replies in, if any
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
  auto reply_to = args::opt_i64(a, "reply_to");
  if (!reply_to) return done(reply_to.err());
  if (*reply_to && **reply_to < 1)
    return done(make_error(errc::invalid, "reply_to is a message seq", "reply_to"));
  auto thread = args::opt_i64(a, "thread");
  if (!thread) return done(thread.err());
  if (*thread && **thread < 1)
    return done(make_error(errc::invalid, "thread is a message seq", "thread"));
  // Parsed here, resolved against the members inside the transaction.
  auto handles = text->find('@') == std::string::npos ? std::vector<std::string>{}
                                                      : parse_mentions(*text, opt_.max_mentions);
  auto ack = std::make_shared<send_ack>();
  commit(
      [me, c = *c, cmid = *cmid, text = *text, reply_to = *reply_to, thread = *thread,
       handles = std::move(handles), ack](write_txn& t, emitter& em) -> error {
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
        std::optional<message_state> root;
        if (thread) {
          root = t.find_message(c, *thread);
          if (!root || root->deleted())
            return make_error(errc::not_found, "no such message to reply in the thread of",
                              "thread");
          if (root->thread)
            return make_error(errc::invalid, "a thread reply cannot start a thread", "thread");
        }
        if (reply_to) {
          auto q = t.find_message(c, *reply_to);
          if (!q || q->deleted())
            return make_error(errc::not_found, "no such message to reply to", "reply_to");
        }
        message_state ms;
        ms.conv = c;
        ms.sender = me.u.id;
        ms.text = text;
        ms.reply_to = reply_to;
        ms.thread = thread;
        for (const auto& h : handles) {
          auto u = t.find_user_by_handle(h);
          if (!u || u->u.id == me.u.id) continue;
          auto um = t.find_membership(c, u->u.id);
          if (um && um->active()) ms.mentions.push_back(u->u.id);
        }
        std::string data = "{\"text\":";
        append_json_quoted(data, text);
        if (reply_to) data += ",\"reply_to\":" + std::to_string(*reply_to);
        if (thread) data += ",\"thread\":" + std::to_string(*thread);
        if (!ms.mentions.empty()) {
          data += ",\"mentions\":[";
          for (std::size_t i = 0; i < ms.mentions.size(); ++i)
            data += (i ? "," : "") + std::to_string(ms.mentions[i]);
          data += ']';
        }
        data += '}';
        ack->ev = em.emit(t, c, "message.created", me.u.id, std::move(data), cmid);
        ms.seq = ack->ev.seq;
        ms.created_ms = ack->ev.ts_ms;
        ack->mentioned = ms.mentions;
        ack->thread = thread.value_or(0);
        t.insert_message(ms);
        if (root) {
          t.add_thread_reply(c, root->seq, me.u.id, ms.created_ms);
          t.set_follow(me.u.id, c, root->seq, true, false);  // replying follows the thread
          if (root->sender != me.u.id) t.set_follow(root->sender, c, root->seq, true, true);
        }
        return kOk;
      },
      [this, ack] {
        if (opt_.on_send_ack) opt_.on_send_ack(ack->duplicate);
        // The mentioned users' devices hear of it at once (the count is in conv.list).
        for (auto u : ack->mentioned) {
          std::string n = "{\"notice\":\"mention\",\"conv\":" + std::to_string(ack->ev.conv) +
                          ",\"seq\":" + std::to_string(ack->ev.seq) +
                          ",\"sender\":" + std::to_string(ack->ev.sender);
          if (ack->thread) n += ",\"thread\":" + std::to_string(ack->thread);
          notify_user(u, n + "}");
        }
        return ack->render();
      },
      std::move(done));
}

void service::op_history(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto page = parse_page(a, opt_.history_page_default, opt_.history_page_max);
  if (!page) return done(page.err());
  store_.read(
      [me, c = *c, p = *page, done](read_txn& t) {
        auto m = t.find_membership(c, me.u.id);
        if (!m) return done(make_error(errc::not_found, "no such conversation", "conv"));
        auto conv = t.find_conversation(c);
        seq_t top = m->left_seq.value_or(conv->last_seq);  // former members see up to leaving
        seq_t first = conv->first_seq;
        bool more = false;
        auto evs = read_page(
            p, first, top,
            [&](seq_t from, seq_t to, std::size_t n, bool desc) {
              return desc ? t.read_events_desc(c, from, to, n) : t.read_events(c, from, to, n);
            },
            more);
        std::string out = "{\"events\":" + encode_event_array(evs) +
                          ",\"has_more\":" + (more ? "true" : "false") +
                          ",\"first_seq\":" + std::to_string(first) +
                          ",\"last_seq\":" + std::to_string(top) + "}";
        done(std::move(out));
      },
      [done](const error& e) { done(e); });
}

}  // namespace parley
