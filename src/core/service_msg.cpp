// Message operations of parley::service: idempotent send and history pages.
#include <boost/json/serialize.hpp>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/paging.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {
const error kOk{errc::ok, {}, {}, 0};

// "attachments": [{"id": "<sha256>", "name": "photo.png"}, ...] (name optional).
result<std::vector<std::pair<std::string, std::string>>> parse_attachments(
    const boost::json::object& a, std::size_t max) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* v = a.if_contains("attachments");
  if (!v || v->is_null()) return out;
  if (!v->is_array())
    return make_error(errc::invalid, "attachments is a list of uploads", "attachments");
  const auto& arr = v->get_array();
  if (arr.size() > max)
    return make_error(errc::too_large, "at most " + std::to_string(max) + " attachments",
                      "attachments");
  for (const auto& item : arr) {
    if (!item.is_object())
      return make_error(errc::invalid, "an attachment is {\"id\":..,\"name\":..}", "attachments");
    auto id = args::str(item.get_object(), "id");
    if (!id || !valid_upload_id(*id))
      return make_error(errc::invalid, "an attachment id is an upload's 64-hex-digit id",
                        "attachments");
    auto name = args::opt_str(item.get_object(), "name");
    if (!name) return make_error(errc::invalid, "an attachment's name is a string", "attachments");
    auto checked = check_file_name(name->value_or("file"), "attachments");
    if (!checked) return checked.err();
    for (const auto& [prev, n] : out)
      if (prev == *id)
        return make_error(errc::invalid, "an upload is attached once per message", "attachments");
    out.emplace_back(*id, *checked);
  }
  return out;
}

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
  auto files = parse_attachments(a, opt_.max_attachments);
  if (!files) return done(files.err());
  auto text_in = args::opt_str(a, "text");
  if (!text_in) return done(text_in.err());
  // A message has text, attachments, or both.
  auto text =
      check_text(text_in->value_or(""), "text", files->empty() ? 1 : 0, opt_.max_text_bytes, true);
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
       handles = std::move(handles), files = std::move(*files),
       ack](write_txn& t, emitter& em) -> error {
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
        // Only content the sender uploaded, or can already see in a message, may be
        // attached: knowing an id is not enough.
        std::vector<attachment> atts;
        for (const auto& [id, name] : files) {
          auto u = t.find_upload(id);
          if (!u || !(t.owns_upload(me.u.id, id) || t.sees_upload(me.u.id, id)))
            return make_error(errc::not_found, "no such upload: " + id, "attachments");
          atts.push_back(attachment{*u, name});
        }
        message_state ms;
        ms.conv = c;
        ms.sender = me.u.id;
        ms.text = text;
        ms.reply_to = reply_to;
        ms.thread = thread;
        ms.mentions = resolve_mentions(t, c, me.u.id, handles);
        std::string data = "{\"text\":";
        append_json_quoted(data, text);
        if (!atts.empty()) {
          data += ",\"attachments\":";
          append_attachments_json(data, atts);
        }
        if (reply_to) data += ",\"reply_to\":" + std::to_string(*reply_to);
        if (thread) data += ",\"thread\":" + std::to_string(*thread);
        if (!ms.mentions.empty()) {
          data += ",\"mentions\":[";
          for (std::size_t i = 0; i < ms.mentions.size(); ++i)
            data += (i ? "," : "") + std::to_string(ms.mentions[i]);
          data += ']';
        }
        data += '}';
        ack->ev = em.emit_message(t, c, me.u.id, std::move(data), cmid, ms);
        ack->mentioned = ms.mentions;
        ack->thread = thread.value_or(0);
        if (!atts.empty()) t.add_attachments(c, ms.seq, atts);
        if (root) {
          t.add_thread_reply(c, root->seq, me.u.id, ms.created_ms);
          t.set_follow(me.u.id, c, root->seq, true, false);  // replying follows the thread
          if (root->sender != me.u.id) t.set_follow(root->sender, c, root->seq, true, true);
        }
        return kOk;
      },
      [this, ack, uid = me.u.id] {
        if (opt_.on_send_ack) opt_.on_send_ack(ack->duplicate);
        // A retry answered with its original acknowledgement wrote nothing.
        if (ack->duplicate && opt_.limiter)
          opt_.limiter->refund(rate_class::write, std::to_string(uid));
        // The mentioned users' devices hear of it at once (the count is in conv.list).
        notify_mentions(ack->mentioned, ack->ev.conv, ack->ev.seq, ack->ev.sender, ack->thread);
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
