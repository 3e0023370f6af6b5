// Read views over message state: messages (a conversation's timeline), thread (a root and
// its replies), edits (earlier versions) and threads (the threads a user follows, with
// unread counts). Each page is read in one snapshot.
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/paging.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"

namespace parley {

namespace {

constexpr std::size_t kQuoteBytes = 200;         // text of a quoted message in a view
constexpr std::size_t kReactionUsers = 20;       // reacting users listed per emoji
constexpr std::size_t kThreadParticipants = 10;  // participants listed per thread
constexpr std::int64_t kCountCap = 1000;         // unread and mention counts stop here

// Cuts s to at most n bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void append_ids(std::string& out, const std::vector<user_id>& ids) {
  out += '[';
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
}

// Renders messages with what a client shows beside each: the quoted message, reactions
// and (for thread roots) the thread summary with the caller's follow state.
class message_renderer {
 public:
  message_renderer(read_txn& t, conv_id c, user_id me) : t_(t), c_(c), me_(me) {}

  std::string array(const std::vector<message_state>& ms) {
    load_reactions(ms);
    std::string out = "[";
    for (std::size_t i = 0; i < ms.size(); ++i) {
      if (i) out += ',';
      one(out, ms[i]);
    }
    out += ']';
    return out;
  }

  std::string single(const message_state& m) {
    load_reactions({m});
    std::string out;
    one(out, m);
    return out;
  }

 private:
  void load_reactions(const std::vector<message_state>& ms) {
    reactions_.clear();
    attachments_.clear();
    if (ms.empty()) return;
    auto [lo, hi] = std::minmax_element(ms.begin(), ms.end(),
                                        [](const auto& a, const auto& b) { return a.seq < b.seq; });
    for (auto& r : t_.list_reactions(c_, lo->seq, hi->seq, kReactionUsers))
      reactions_[r.msg].push_back(std::move(r));
    for (auto& [seq, a] : t_.list_attachments(c_, lo->seq, hi->seq))
      attachments_[seq].push_back(std::move(a));
  }

  void one(std::string& out, const message_state& m) {
    out += "{\"seq\":" + std::to_string(m.seq) + ",\"sender\":" + std::to_string(m.sender) +
           ",\"ts\":" + std::to_string(m.created_ms);
    if (m.deleted()) {
      out += ",\"deleted\":true,\"deleted_ts\":" + std::to_string(*m.deleted_ms);
    } else {
      out += ",\"text\":";
      append_json_quoted(out, m.text);
    }
    if (m.edited_ms && !m.deleted()) out += ",\"edited_ts\":" + std::to_string(*m.edited_ms);
    if (auto it = attachments_.find(m.seq); it != attachments_.end()) {
      out += ",\"attachments\":";
      append_attachments_json(out, it->second);
    }
    if (m.thread) out += ",\"thread\":" + std::to_string(*m.thread);
    if (!m.mentions.empty()) {
      out += ",\"mentions\":";
      append_ids(out, m.mentions);
    }
    if (m.reply_to) quote(out, *m.reply_to);
    if (auto it = reactions_.find(m.seq); it != reactions_.end()) {
      out += ",\"reactions\":[";
      for (std::size_t i = 0; i < it->second.size(); ++i) {
        const auto& r = it->second[i];
        if (i) out += ',';
        out += "{\"emoji\":";
        append_json_quoted(out, r.emoji);
        out += ",\"count\":" + std::to_string(r.count) + ",\"users\":";
        append_ids(out, r.users);
        out += '}';
      }
      out += ']';
    }
    if (!m.thread) summary(out, m);
    out += '}';
  }

  // The quoted message: a short excerpt, or a tombstone once deleted.
  void quote(std::string& out, seq_t seq) {
    out += ",\"reply_to\":{\"seq\":" + std::to_string(seq);
    auto q = t_.find_message(c_, seq);
    if (!q || q->deleted()) {
      out += ",\"deleted\":true}";
      return;
    }
    out += ",\"sender\":" + std::to_string(q->sender) + ",\"text\":";
    append_json_quoted(out, utf8_prefix(q->text, kQuoteBytes));
    out += '}';
  }

  void summary(std::string& out, const message_state& m) {
    auto following = t_.find_follow(me_, c_, m.seq);
    if (m.reply_count == 0 && !m.last_reply_ms && !following) return;
    out += ",\"replies\":{\"count\":" + std::to_string(m.reply_count);
    if (m.last_reply_ms) out += ",\"last_ts\":" + std::to_string(*m.last_reply_ms);
    out += ",\"participants\":";
    append_ids(out, t_.list_thread_participants(c_, m.seq, kThreadParticipants));
    out += std::string(",\"following\":") + (following.value_or(false) ? "true" : "false") + "}";
  }

  read_txn& t_;
  conv_id c_;
  user_id me_;
  std::map<seq_t, std::vector<reaction_count>> reactions_;
  std::map<seq_t, std::vector<attachment>> attachments_;
};

// One page of a timeline (root 0: the conversation's; else a thread's) within [bottom, top].
std::vector<message_state> timeline_page(read_txn& t, conv_id c, seq_t root, seq_t bottom,
                                         seq_t top, const page_request& p, bool& more) {
  return read_page(
      p, bottom, top,
      [&](seq_t from, seq_t to, std::size_t n, bool desc) {
        return t.list_messages(c, root, from, to, n, desc);
      },
      more);
}

// The last seq a member may see: the end of the log, or where a former member left.
seq_t visible_top(read_txn& t, const membership& m) {
  auto conv = t.find_conversation(m.conv);
  return m.left_seq.value_or(conv ? conv->last_seq : 0);
}

}  // namespace

void service::op_messages(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto page = parse_page(a, opt_.history_page_default, opt_.history_page_max);
  if (!page) return done(page.err());
  store_.read(
      [me, c = *c, p = *page, done](read_txn& t) {
        auto m = require_reader(t, c, me.u.id);
        if (!m) return done(m.err());
        bool more = false;
        auto ms = timeline_page(t, c, 0, 0, visible_top(t, *m), p, more);
        message_renderer r(t, c, me.u.id);
        done("{\"messages\":" + r.array(ms) + ",\"has_more\":" + (more ? "true" : "false") + "}");
      },
      [done](const error& e) { done(e); });
}

void service::op_thread(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto root = args::i64(a, "thread");
  if (!root) return done(root.err());
  auto page = parse_page(a, opt_.history_page_default, opt_.history_page_max);
  if (!page) return done(page.err());
  store_.read(
      [me, c = *c, root = *root, p = *page, done](read_txn& t) {
        auto m = require_reader(t, c, me.u.id);
        if (!m) return done(m.err());
        seq_t top = visible_top(t, *m);
        auto rm = root >= 1 && root <= top ? t.find_message(c, root) : std::nullopt;
        if (!rm || rm->thread) return done(make_error(errc::not_found, "no such thread", "thread"));
        bool more = false;
        auto ms = timeline_page(t, c, root, root + 1, top, p, more);
        message_renderer r(t, c, me.u.id);
        done("{\"root\":" + r.single(*rm) + ",\"replies\":" + r.array(ms) +
             ",\"has_more\":" + (more ? "true" : "false") + "}");
      },
      [done](const error& e) { done(e); });
}

void service::op_edits(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto seq = args::i64(a, "msg");
  if (!seq) return done(seq.err());
  store_.read(
      [me, c = *c, seq = *seq, done](read_txn& t) {
        auto m = require_reader(t, c, me.u.id);
        if (!m) return done(m.err());
        auto msg = seq >= 1 && seq <= visible_top(t, *m) ? t.find_message(c, seq) : std::nullopt;
        if (!msg) return done(make_error(errc::not_found, "no such message", "msg"));
        if (msg->deleted())
          return done(make_error(errc::conflict, "the message was deleted", "msg"));
        std::string out = "{\"conv\":" + std::to_string(c) + ",\"msg\":" + std::to_string(seq) +
                          ",\"versions\":[";
        bool first = true;
        for (const auto& e : t.list_edits(c, seq)) {
          if (!first) out += ',';
          first = false;
          out += "{\"text\":";
          append_json_quoted(out, e.text);
          out += ",\"since_ts\":" + std::to_string(e.since_ms) +
                 ",\"replaced_by\":" + std::to_string(e.edit_seq) + "}";
        }
        out += "],\"current\":{\"text\":";
        append_json_quoted(out, msg->text);
        out += ",\"since_ts\":" + std::to_string(msg->edited_ms.value_or(msg->created_ms)) + "}}";
        done(std::move(out));
      },
      [done](const error& e) { done(e); });
}

void service::op_threads(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::opt_i64(a, "conv");
  if (!c) return done(c.err());
  store_.read(
      [me, c = c->value_or(0), done](read_txn& t) {
        if (c != 0) {
          if (auto m = require_reader(t, c, me.u.id); !m) return done(m.err());
        }
        std::string out = "{\"threads\":[";
        bool first = true;
        for (const auto& f : t.list_followed_threads(me.u.id, c)) {
          auto m = t.find_membership(f.conv, me.u.id);
          if (!m) continue;
          auto root = t.find_message(f.conv, f.root);
          if (!root) continue;
          auto rp = t.find_read_pointer(me.u.id, f.conv, f.root).value_or(f.root);
          if (!first) out += ',';
          first = false;
          out += "{\"conv\":" + std::to_string(f.conv) + ",\"thread\":" + std::to_string(f.root) +
                 ",\"replies\":" + std::to_string(root->reply_count);
          if (root->last_reply_ms) out += ",\"last_ts\":" + std::to_string(*root->last_reply_ms);
          out += ",\"read_seq\":" + std::to_string(rp) + ",\"unread\":" +
                 std::to_string(t.count_unread(f.conv, f.root, me.u.id, rp, kCountCap)) +
                 ",\"mentions\":" +
                 std::to_string(t.count_mentions(me.u.id, f.conv, f.root, rp, kCountCap)) + "}";
        }
        out += "]}";
        done(std::move(out));
      },
      [done](const error& e) { done(e); });
}

// Unread and mention counts of the main timeline, for conv.list.
void add_unread_counts(read_txn& t, user_id me, const membership& m, boost::json::object& o) {
  auto rp = t.find_read_pointer(me, m.conv, 0).value_or(m.joined_seq);
  o["read_seq"] = rp;
  o["unread"] = m.active() ? t.count_unread(m.conv, 0, me, rp, kCountCap) : 0;
  o["mentions"] = m.active() ? t.count_mentions(me, m.conv, 0, rp, kCountCap) : 0;
}

}  // namespace parley
