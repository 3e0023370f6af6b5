// Changes to existing messages and the user's own reading state: edit, delete, react,
// unreact, follow, unfollow, read. Each change to a message is an event on the log (so it
// syncs like a message) and updates the message state in the same transaction.
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {

const error kOk{errc::ok, {}, {}, 0};

result<seq_t> msg_arg(const boost::json::object& a, std::string_view key) {
  auto v = args::i64(a, key);
  if (!v) return v.err();
  if (*v < 1 || *v > (std::int64_t{1} << 32) - 1)
    return make_error(errc::invalid, std::string(key) + " is a message seq", std::string(key));
  return *v;
}

// The message `seq` of c as an operation on it needs it: existing, a message, not deleted.
result<message_state> live_message(write_txn& t, conv_id c, seq_t seq) {
  auto m = t.find_message(c, seq);
  if (!m) return make_error(errc::not_found, "no such message", "msg");
  if (m->deleted()) return make_error(errc::conflict, "the message was deleted", "msg");
  return *m;
}

// What a change left for the reply: the event it made (if any).
struct change {
  conv_id conv = 0;
  seq_t msg = 0;
  seq_t seq = 0;  // the event's seq; 0 when nothing changed
  std::string render() const {
    std::string out = "{\"conv\":" + std::to_string(conv) + ",\"msg\":" + std::to_string(msg);
    out += seq ? ",\"seq\":" + std::to_string(seq) + ",\"changed\":true}" : ",\"changed\":false}";
    return out;
  }
};

}  // namespace

void service::op_edit(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto msg = msg_arg(a, "msg");
  if (!msg) return done(msg.err());
  auto text_in = args::str(a, "text");
  if (!text_in) return done(text_in.err());
  auto text = check_text(*text_in, "text", 1, opt_.max_text_bytes, true);
  if (!text) return done(text.err());
  auto handles = text->find('@') == std::string::npos ? std::vector<std::string>{}
                                                      : parse_mentions(*text, opt_.max_mentions);
  auto out = std::make_shared<change>();
  auto newly = std::make_shared<std::vector<user_id>>();  // mentioned by this edit only
  auto thread = std::make_shared<seq_t>(0);
  commit(
      [me, c = *c, seq = *msg, text = *text, handles = std::move(handles), out, newly, thread,
       window = opt_.edit_window_ms](write_txn& t, emitter& em) -> error {
        out->conv = c;
        out->msg = seq;
        if (auto m = require_member(t, c, me.u.id); !m) return m.err();
        auto m = live_message(t, c, seq);
        if (!m) return m.err();
        if (m->sender != me.u.id)
          return make_error(errc::forbidden, "only the sender may edit a message", "msg");
        if (window > 0 && now_ms() - m->created_ms > window)
          return make_error(
              errc::forbidden,
              "the edit window of " + std::to_string(window / 1000) + " s after sending has passed",
              "msg");
        if (m->text == text) return kOk;  // nothing to change
        // Mentions follow the text: those the edit adds are notified, those it drops stop
        // counting.
        auto mentions = resolve_mentions(t, c, me.u.id, handles);
        for (auto u : mentions)
          if (std::find(m->mentions.begin(), m->mentions.end(), u) == m->mentions.end())
            newly->push_back(u);
        *thread = m->thread.value_or(0);
        std::string data = "{\"msg\":" + std::to_string(seq) + ",\"text\":";
        append_json_quoted(data, text);
        if (!mentions.empty()) {
          data += ",\"mentions\":[";
          for (std::size_t i = 0; i < mentions.size(); ++i)
            data += (i ? "," : "") + std::to_string(mentions[i]);
          data += ']';
        }
        data += '}';
        auto& ev = em.emit(t, c, "message.edited", me.u.id, std::move(data));
        out->seq = ev.seq;
        t.edit_message(c, seq, text, ev.ts_ms, ev.seq);
        if (mentions != m->mentions) t.set_mentions(c, seq, mentions);
        return kOk;
      },
      [this, me, out, newly, thread] {
        notify_mentions(*newly, out->conv, out->msg, me.u.id, *thread);
        return out->render();
      },
      std::move(done));
}

void service::op_delete(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto msg = msg_arg(a, "msg");
  if (!msg) return done(msg.err());
  auto out = std::make_shared<change>();
  commit(
      [me, c = *c, seq = *msg, out](write_txn& t, emitter& em) -> error {
        out->conv = c;
        out->msg = seq;
        auto mem = require_member(t, c, me.u.id);
        if (!mem) return mem.err();
        auto m = t.find_message(c, seq);
        if (!m) return make_error(errc::not_found, "no such message", "msg");
        if (m->deleted()) return kOk;  // already gone
        if (m->sender != me.u.id) {
          auto conv = t.find_conversation(c);
          bool moderator = conv && conv->kind == conv_kind::group && mem->role != role::member;
          if (!moderator)
            return make_error(errc::forbidden,
                              "only the sender or a group admin may delete a message", "msg");
        }
        auto& ev =
            em.emit(t, c, "message.deleted", me.u.id, "{\"msg\":" + std::to_string(seq) + "}");
        out->seq = ev.seq;
        // The content leaves storage: the message state, its earlier versions, and the
        // events that carried its text (replaced by tombstones that keep the structure).
        auto edit_seqs = t.delete_message(c, seq, ev.ts_ms);
        std::string tomb = "{\"deleted\":true";
        if (m->reply_to) tomb += ",\"reply_to\":" + std::to_string(*m->reply_to);
        if (m->thread) tomb += ",\"thread\":" + std::to_string(*m->thread);
        tomb += '}';
        t.rewrite_event_data(c, seq, tomb);
        for (auto es : edit_seqs)
          t.rewrite_event_data(c, es, "{\"msg\":" + std::to_string(seq) + ",\"deleted\":true}");
        if (m->thread) t.remove_thread_reply(c, *m->thread);
        return kOk;
      },
      [out] { return out->render(); }, std::move(done));
}

void service::op_react(const device_session& me, const boost::json::object& a, bool add,
                       reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto msg = msg_arg(a, "msg");
  if (!msg) return done(msg.err());
  auto emoji_in = args::str(a, "emoji");
  if (!emoji_in) return done(emoji_in.err());
  auto emoji = check_emoji(*emoji_in);
  if (!emoji) return done(emoji.err());
  auto out = std::make_shared<change>();
  commit(
      [me, c = *c, seq = *msg, emoji = *emoji, add, out, max = opt_.max_reactions_per_user](
          write_txn& t, emitter& em) -> error {
        out->conv = c;
        out->msg = seq;
        if (auto m = require_member(t, c, me.u.id); !m) return m.err();
        if (auto m = live_message(t, c, seq); !m) return m.err();
        bool changed;
        if (add) {
          changed = t.add_reaction(c, seq, emoji, me.u.id, now_ms());
          // Over the limit: the error rolls the insert back.
          if (changed && t.count_user_reactions(c, seq, me.u.id) > max)
            return make_error(errc::too_large,
                              "at most " + std::to_string(max) + " reactions per message", "emoji");
        } else {
          changed = t.remove_reaction(c, seq, emoji, me.u.id);
        }
        if (!changed) return kOk;  // idempotent: already there / already gone
        std::string data = "{\"msg\":" + std::to_string(seq) + ",\"emoji\":";
        append_json_quoted(data, emoji);
        data += '}';
        out->seq =
            em.emit(t, c, add ? "reaction.added" : "reaction.removed", me.u.id, std::move(data))
                .seq;
        return kOk;
      },
      [out] { return out->render(); }, std::move(done));
}

void service::op_follow(const device_session& me, const boost::json::object& a, bool follow,
                        reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto root = msg_arg(a, "thread");
  if (!root) return done(root.err());
  auto changed = std::make_shared<bool>(false);
  commit(
      [me, c = *c, root = *root, follow, changed](write_txn& t, emitter&) -> error {
        if (auto m = require_member(t, c, me.u.id); !m) return m.err();
        auto m = t.find_message(c, root);
        if (!m) return make_error(errc::not_found, "no such message", "thread");
        if (m->thread) return make_error(errc::invalid, "not a thread root", "thread");
        *changed = t.set_follow(me.u.id, c, root, follow, false);
        return kOk;
      },
      [this, me, c = *c, root = *root, follow, changed] {
        std::string body = "\"conv\":" + std::to_string(c) + ",\"thread\":" + std::to_string(root) +
                           ",\"following\":" + (follow ? "true" : "false");
        if (*changed) notify_user(me.u.id, "{\"notice\":\"follow\"," + body + "}");
        return "{" + body + ",\"changed\":" + (*changed ? "true" : "false") + "}";
      },
      std::move(done));
}

void service::op_read(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto seq = msg_arg(a, "seq");
  if (!seq) return done(seq.err());
  auto thread_in = args::opt_i64(a, "thread");
  if (!thread_in) return done(thread_in.err());
  seq_t root = thread_in->value_or(0);
  if (root < 0) return done(make_error(errc::invalid, "thread is a message seq", "thread"));
  struct read_state {
    bool changed = false;
    seq_t seq = 0;
    std::int64_t unread = 0, mentions = 0;
    seq_t delivered = 0;  // moved to here, or 0
  };
  auto out = std::make_shared<read_state>();
  commit(
      [me, c = *c, seq = *seq, root, out](write_txn& t, emitter&) -> error {
        auto m = require_reader(t, c, me.u.id);
        if (!m) return m.err();
        auto conv = t.find_conversation(c);
        seq_t top = m->left_seq.value_or(conv->last_seq);
        if (seq > top)
          return make_error(errc::invalid, "seq is beyond the end of the conversation", "seq");
        if (root != 0) {
          auto r = t.find_message(c, root);
          if (!r || r->thread) return make_error(errc::not_found, "no such thread", "thread");
        }
        out->changed = t.advance_read_pointer(me.u.id, c, root, seq);
        // What was read was received: the timeline's delivered position follows.
        if (root == 0) out->delivered = t.advance_delivered(me.device, me.u.id, c, seq);
        out->seq = t.find_read_pointer(me.u.id, c, root).value_or(seq);
        out->unread = t.count_unread(c, root, me.u.id, out->seq, 1000);
        out->mentions = t.count_mentions(me.u.id, c, root, out->seq, 1000);
        return kOk;
      },
      [this, me, c = *c, root, out] {
        std::string body = "\"conv\":" + std::to_string(c) + ",\"thread\":" + std::to_string(root) +
                           ",\"seq\":" + std::to_string(out->seq) +
                           ",\"unread\":" + std::to_string(out->unread) +
                           ",\"mentions\":" + std::to_string(out->mentions);
        if (out->changed) notify_user(me.u.id, "{\"notice\":\"read\"," + body + "}");
        if ((out->changed || out->delivered) && opt_.on_receipt)
          opt_.on_receipt({c, me.u.id, root, out->delivered, out->changed ? out->seq : 0});
        return "{" + body + ",\"changed\":" + (out->changed ? "true" : "false") + "}";
      },
      std::move(done));
}

}  // namespace parley
