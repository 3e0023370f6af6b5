#include "server/receipt_batcher.hpp"

#include <spdlog/spdlog.h>

namespace parley {

receipt_batcher::receipt_batcher(boost::asio::io_context& io, store& st, hub& h,
                                 std::chrono::milliseconds interval)
    : io_(io), st_(st), hub_(h), interval_(interval), timer_(io) {}

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

void receipt_batcher::flush() {
  std::map<std::pair<conv_id, seq_t>, pending> batch;
  {
    std::lock_guard lk(mu_);
    batch.swap(pending_);
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
          hub_.notify_users(std::move(members),
                            std::make_shared<const std::string>(std::move(out)));
        },
        [](const error& e) { spdlog::warn("event=receipts_failed what=\"{}\"", e.message); });
  }
}

}  // namespace parley
