#include "server/cluster_rates.hpp"

#include <charconv>

namespace parley {

cluster_rates::cluster_rates(boost::asio::io_context& io, bus& b,
                             std::shared_ptr<rate_limiter> limiter, std::chrono::milliseconds every)
    : bus_(b), limiter_(std::move(limiter)), every_(every), timer_(io) {}

void cluster_rates::start() {
  std::weak_ptr<cluster_rates> w = shared_from_this();
  limiter_->set_observer([w](rate_class c, std::string_view key) {
    // Keys are handles, addresses and user ids; anything that would break a line is not
    // shared (it stays limited on this node).
    if (key.find_first_of("\t\n") != std::string_view::npos) return;
    if (auto self = w.lock()) {
      std::lock_guard lk(self->mu_);
      ++self->taken_[{static_cast<int>(c), std::string(key)}];
    }
  });
  bus_.subscribe_control("rates", [w](std::string_view p) {
    if (auto self = w.lock()) self->apply(p);
  });
  schedule();
}

void cluster_rates::schedule() {
  timer_.expires_after(every_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    self->flush();
    self->schedule();
  });
}

void cluster_rates::flush() {
  std::map<std::pair<int, std::string>, int> batch;
  {
    std::lock_guard lk(mu_);
    batch.swap(taken_);
  }
  if (batch.empty()) return;
  std::string out;
  for (const auto& [k, n] : batch) {
    out += std::to_string(k.first);
    out += '\t';
    out += k.second;
    out += '\t';
    out += std::to_string(n);
    out += '\n';
  }
  bus_.publish_control("rates", std::move(out));
}

void cluster_rates::apply(std::string_view payload) {
  while (!payload.empty()) {
    auto nl = payload.find('\n');
    auto line = payload.substr(0, nl);
    payload.remove_prefix(nl == std::string_view::npos ? payload.size() : nl + 1);
    auto t1 = line.find('\t');
    auto t2 = line.rfind('\t');
    if (t1 == std::string_view::npos || t2 == t1) continue;
    int cls = -1, n = 0;
    auto r1 = std::from_chars(line.data(), line.data() + t1, cls);
    auto r2 = std::from_chars(line.data() + t2 + 1, line.data() + line.size(), n);
    if (r1.ec != std::errc() || r2.ec != std::errc() || cls < 0 ||
        cls >= static_cast<int>(rate_class::count_) || n <= 0)
      continue;
    limiter_->debit(static_cast<rate_class>(cls), line.substr(t1 + 1, t2 - t1 - 1), n);
  }
}

}  // namespace parley
