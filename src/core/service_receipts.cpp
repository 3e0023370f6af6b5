// Receipts and preferences in parley::service: a device acknowledges what it received
// (ack), anyone in a conversation lists its members' delivered and read positions
// (receipts), and a user keeps read receipts private or goes invisible (settings).
// Positions only move forward; the server batches the changes to the members.
#include <boost/json/serialize.hpp>

#include <charconv>

#include "core/args.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"

namespace parley {

namespace {
const error kOk{errc::ok, {}, {}, 0};
constexpr std::size_t kMaxAckEntries = 1000;  // conversations acknowledged in one request
}  // namespace

void service::op_ack(const device_session& me, const boost::json::object& a, reply done) {
  auto it = a.find("positions");
  if (it == a.end() || !it->value().is_object())
    return done(make_error(errc::invalid, "positions maps conversation ids to seqs", "positions"));
  const auto& obj = it->value().get_object();
  if (obj.size() > kMaxAckEntries)
    return done(make_error(errc::too_large,
                           "at most " + std::to_string(kMaxAckEntries) + " conversations per ack",
                           "positions"));
  std::vector<std::pair<conv_id, seq_t>> want;
  for (const auto& [k, v] : obj) {
    conv_id c = 0;
    std::string key(k);
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), c);
    if (ec != std::errc() || p != key.data() + key.size() || c <= 0 || !v.is_int64() ||
        v.get_int64() < 1)
      return done(
          make_error(errc::invalid, "positions maps conversation ids to seqs >= 1", "positions"));
    want.emplace_back(c, v.get_int64());
  }
  if (opt_.on_delivered) {
    // Validated on a reader; stored and announced by the batcher (no write per ack).
    store_.read(
        [this, me, want, done](read_txn& t) {
          boost::json::object pos;
          for (const auto& [c, seq] : want) {
            auto m = require_reader(t, c, me.u.id);
            if (!m) return done(m.err());
            auto conv = t.find_conversation(c);
            if (seq > m->left_seq.value_or(conv->last_seq))
              return done(make_error(errc::invalid,
                                     "conversation " + std::to_string(c) + " has no seq " +
                                         std::to_string(seq) + " you can see",
                                     "positions"));
            pos[std::to_string(c)] = std::max(seq, t.find_delivered(me.u.id, c));
          }
          for (const auto& [c, seq] : want) opt_.on_delivered(me.device, me.u.id, c, seq);
          done(boost::json::serialize(boost::json::object{{"positions", std::move(pos)}}));
        },
        [done](const error& e) { done(e); });
    return;
  }
  auto moved = std::make_shared<std::vector<std::pair<conv_id, seq_t>>>();  // user-level
  auto now = std::make_shared<std::vector<std::pair<conv_id, seq_t>>>();    // the reply
  commit(
      [me, want, moved, now](write_txn& t, emitter&) -> error {
        moved->clear();
        now->clear();
        for (const auto& [c, seq] : want) {
          auto m = require_reader(t, c, me.u.id);
          if (!m) return m.err();
          auto conv = t.find_conversation(c);
          seq_t top = m->left_seq.value_or(conv->last_seq);
          // A receipt for an event the user cannot see is refused, and so the whole ack.
          if (seq > top)
            return make_error(errc::invalid,
                              "conversation " + std::to_string(c) + " has no seq " +
                                  std::to_string(seq) + " you can see",
                              "positions");
          if (auto s = t.advance_delivered(me.device, me.u.id, c, seq)) moved->emplace_back(c, s);
          now->emplace_back(c, t.find_delivered(me.u.id, c));
        }
        return kOk;
      },
      [this, me, moved, now] {
        if (opt_.on_receipt)
          for (const auto& [c, s] : *moved) opt_.on_receipt({c, me.u.id, 0, s, 0});
        boost::json::object pos;
        for (const auto& [c, s] : *now) pos[std::to_string(c)] = s;
        return boost::json::serialize(boost::json::object{{"positions", std::move(pos)}});
      },
      std::move(done));
}

void service::op_receipts(const device_session& me, const boost::json::object& a, reply done) {
  auto c = args::i64(a, "conv");
  if (!c) return done(c.err());
  auto thread = args::opt_i64(a, "thread");
  if (!thread) return done(thread.err());
  seq_t root = thread->value_or(0);
  if (root < 0) return done(make_error(errc::invalid, "thread is a message seq", "thread"));
  store_.read(
      [me, c = *c, root, done](read_txn& t) {
        if (auto m = require_reader(t, c, me.u.id); !m) return done(m.err());
        if (root != 0) {
          auto r = t.find_message(c, root);
          if (!r || r->thread) return done(make_error(errc::not_found, "no such thread", "thread"));
        }
        boost::json::array rs;
        for (const auto& r : t.list_receipts(c, root)) {
          boost::json::object o{{"user", r.user}};
          if (root == 0) o["delivered"] = r.delivered;
          // Private read positions are shown to their owner only.
          if (!r.private_read || r.user == me.u.id) o["read"] = r.read;
          rs.push_back(std::move(o));
        }
        done(boost::json::serialize(
            boost::json::object{{"conv", c}, {"thread", root}, {"receipts", std::move(rs)}}));
      },
      [done](const error& e) { done(e); });
}

void service::receipt_snapshot(const device_session& me, std::vector<conv_id> convs,
                               std::function<void(std::vector<std::string>)> done) {
  store_.read(
      [me, convs = std::move(convs), done](read_txn& t) {
        std::vector<std::string> out;
        for (auto c : convs) {
          if (!t.find_membership(c, me.u.id)) continue;
          std::string delivered, read;
          for (const auto& r : t.list_receipts(c, 0)) {
            auto key = "\"" + std::to_string(r.user) + "\":";
            if (r.delivered)
              delivered += (delivered.empty() ? "" : ",") + key + std::to_string(r.delivered);
            if (r.read && (!r.private_read || r.user == me.u.id))
              read += (read.empty() ? "" : ",") + key + std::to_string(r.read);
          }
          if (delivered.empty() && read.empty()) continue;  // nothing to tell
          out.push_back("{\"notice\":\"receipts\",\"conv\":" + std::to_string(c) +
                        ",\"delivered\":{" + delivered + "},\"read\":{" + read + "}}");
        }
        done(std::move(out));
      },
      [done](const error&) { done({}); });
}

void service::op_settings(const device_session& me, const boost::json::object& a, reply done) {
  std::optional<bool> priv, invisible;
  for (auto [key, slot] : {std::pair{"private_receipts", &priv}, {"invisible", &invisible}}) {
    auto v = a.if_contains(key);
    if (!v || v->is_null()) continue;
    if (!v->is_bool())
      return done(make_error(errc::invalid, std::string(key) + " is true or false", key));
    *slot = v->as_bool();
  }
  auto out = std::make_shared<user_prefs>();
  auto changed = std::make_shared<bool>(false);
  commit(
      [me, priv, invisible, out, changed](write_txn& t, emitter&) -> error {
        *out = t.find_prefs(me.u.id);
        auto before = *out;
        if (priv) out->private_receipts = *priv;
        if (invisible) out->invisible = *invisible;
        *changed =
            before.private_receipts != out->private_receipts || before.invisible != out->invisible;
        if (*changed) t.put_prefs(me.u.id, out->private_receipts, out->invisible);
        return kOk;
      },
      [this, me, out, changed] {
        if (*changed && opt_.on_prefs) opt_.on_prefs(me.u.id, *out);
        return boost::json::serialize(boost::json::object{
            {"private_receipts", out->private_receipts}, {"invisible", out->invisible}});
      },
      std::move(done));
}

}  // namespace parley
