#include "server/receipt_batcher.hpp"

#include <spdlog/spdlog.h>

namespace parley {

receipt_batcher::receipt_batcher(boost::asio::io_context& io, store& st, bus& b,
                                 std::chrono::milliseconds interval)
    : st_(st), bus_(b), interval_(interval), timer_(io) {}

void receipt_batcher::start() {
  schedule();
}

void receipt_batcher::schedule() {
  timer_.expires_after(interval_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    self->flush();
    self->schedule();
  });
}

void receipt_batcher::add(const receipt_change& c) {
  std::lock_guard lk(mu_);
  auto& p = pending_[{c.conv, c.root}];
  if (c.delivered) p.delivered[c.user] = std::max(p.delivered[c.user], c.delivered);
  if (c.read) p.read[c.user] = std::max(p.read[c.user], c.read);
}

void receipt_batcher::add_delivered(device_id d, user_id u, conv_id c, seq_t seq) {
  std::lock_guard lk(mu_);
  auto& e = delivered_[{d, c}];
  e.first = u;
  e.second = std::max(e.second, seq);
}

void receipt_batcher::flush() {
  std::map<std::pair<conv_id, seq_t>, pending> batch;
  std::map<std::pair<device_id, conv_id>, std::pair<user_id, seq_t>> acks;
  {
    std::lock_guard lk(mu_);
    batch.swap(pending_);
    acks.swap(delivered_);
  }
  if (!acks.empty()) {
    auto moved = std::make_shared<std::vector<receipt_change>>();
    st_.write(
        [acks = std::move(acks), moved](write_txn& t) {
          moved->clear();
          for (const auto& [key, v] : acks)
            if (auto s = t.advance_delivered(key.first, v.first, key.second, v.second))
              moved->push_back({key.second, v.first, 0, s, 0});
          return error{errc::ok, {}, {}, 0};
        },
        [self = shared_from_this(), moved](const error& e) {
          if (e.code != errc::ok)
            spdlog::warn("event=delivered_store_failed what=\"{}\"", e.message);
          for (const auto& c : *moved) self->add(c);  // announced with the next flush
        });
  }
  for (auto& [key, p] : batch) {
    auto [c, root] = key;
    st_.read(
        [this, c = c, root = root, p = std::move(p)](read_txn& t) {
          auto members = t.list_member_ids(c);
          std::string out = "{\"notice\":\"receipts\",\"conv\":" + std::to_string(c);
          if (root) out += ",\"thread\":" + std::to_string(root);
          auto section = [&out](const char* name, const std::map<user_id, seq_t>& m, auto keep) {
            std::string body;
            for (const auto& [u, s] : m)
              if (keep(u))
                body +=
                    (body.empty() ? "\"" : ",\"") + std::to_string(u) + "\":" + std::to_string(s);
            if (!body.empty()) out += std::string(",\"") + name + "\":{" + body + "}";
          };
          section("delivered", p.delivered, [](user_id) { return true; });
          section("read", p.read, [&t](user_id u) { return !t.find_prefs(u).private_receipts; });
          out += '}';
          if (out.find("\"delivered\"") == std::string::npos &&
              out.find("\"read\"") == std::string::npos)
            return;  // only private reads: nothing for the others
          bus_.publish_notice(c, std::move(members),
                              std::make_shared<const std::string>(std::move(out)));
        },
        [](const error& e) { spdlog::warn("event=receipts_failed what=\"{}\"", e.message); });
  }
}

}  // namespace parley
