// parley-bench resume (W6): a resume storm on a Parley server.
//
// N users in groups of G. Each client connects once to learn its position, then goes
// away; B messages are posted into every group while they are gone; then all N reconnect
// at once (a bounded number of connects in flight) and sync with `since` = the position
// they had. Measures the time from the first reconnect until every client has received all
// B missed events (gapless, exactly once) and its sync reply, per-client catch-up times,
// and the server's recent-events cache hit rate over the storm (from /metrics).
// Parley only: the peers keep no log to resume from.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cstdio>

#include "common.hpp"
#include "frames.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

const char* kUsage = R"(usage: parley-bench resume --url HOST:PORT [options]

W6: N clients reconnect at once, each B events behind; time until all have caught up.

  --url HOST:PORT         Parley server address                                   [required]
  --clients N             clients (users), all reconnecting at once               [5000]
  --behind B              messages posted to each group while the clients are away [100]
  --group G               members per group (N/G groups)                           [10]
  --connect-concurrency C reconnects in flight                                     [256]
  --source-addrs N        bind connection i to 127.0.0.(2 + i % N)                 [0]
  --threads T             io threads                                               [1]
  --setup-concurrency C   parallel REST register/login requests                    [16]
  --server-pid PID        also report the server's CPU use during the storm
  --json                  also print one JSON line with every number
  --quiet                 no progress lines
)";

struct options : common_options {
  int clients = 5000, behind = 100, group = 10;
  int connect_concurrency = 256, threads = 1, setup_concurrency = 16;
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--clients")
      o.clients = ar.integer();
    else if (a == "--behind")
      o.behind = ar.integer();
    else if (a == "--group")
      o.group = ar.integer();
    else if (a == "--connect-concurrency")
      o.connect_concurrency = ar.integer();
    else if (a == "--threads")
      o.threads = ar.integer();
    else if (a == "--setup-concurrency")
      o.setup_concurrency = ar.integer();
    else if (a == "--target") {
      if (ar.value() != "parley") ar.error("--target: this workload is Parley only");
    } else
      ar.unknown();
  }
  ar.require_url(o.ep);
  if (o.group < 2 || o.group > 1000) ar.error("--group is 2..1000");
  if (o.clients < o.group || o.clients > 19000 || o.clients % o.group != 0)
    ar.error("--clients is a multiple of --group, at most 19000");
  if (o.behind < 1 || o.behind > 100000) ar.error("--behind is 1..100000");
  if (o.threads < 1 || o.threads > 16) ar.error("--threads is 1..16");
  if (o.connect_concurrency < 1) o.connect_concurrency = 1;
  return o;
}

struct client {
  bench_user u;
  std::int64_t conv = 0, pos = 0;  // the group and the position at disconnect
  std::int64_t last = 0, received = 0, violations = 0;
  std::int64_t t_start = 0, t_done = 0;
  bool synced = false;
};

void say(const options& o, const std::string& s) {
  if (!o.quiet) std::fprintf(stderr, "parley-bench resume: %s\n", s.c_str());
}

// Handles replayed event frames for one client.
void on_other(void* ctx, std::string_view f) {
  auto& c = *static_cast<client*>(ctx);
  ev_view e;
  bool ok = fast_event(f, e);
  if (!ok) {
    boost::system::error_code ec;
    auto v = json::parse(json::string_view(f.data(), f.size()), ec);
    if (!ec && v.is_object())
      if (auto* n = v.as_object().if_contains("notice"); n && n->is_string()) {
        auto kind = n->as_string();
        // Current state sent after every sync: not part of the replay.
        if (kind == "receipts" || kind == "presence" || kind == "typing") return;
      }
    if (ec || !v.is_object() || !v.as_object().contains("ev")) {
      ++c.violations;  // a notice (history_pruned, position_reset) is not expected here
      return;
    }
    ok = json_event(v.as_object().at("ev"), e);
  }
  if (!ok || e.conv != c.conv || e.seq != c.last + 1) {
    ++c.violations;
    if (ok && e.conv == c.conv) c.last = std::max(c.last, e.seq);
    return;
  }
  c.last = e.seq;
  ++c.received;
}

}  // namespace

int resume_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  raise_fd_limit();
  io_pool pool(o.threads);
  std::vector<client> cs(static_cast<std::size_t>(o.clients));
  std::vector<std::shared_ptr<ws_stream>> ws(cs.size());
  int groups = o.clients / o.group;
  std::map<std::string, double> m0, m1;
  double storm_s = 0, post_s = 0;
  std::optional<cpu_sample> c0, c1;
  std::string fatal, tag = random_tag();
  auto bounded = [&pool](int n, int k, const char* what, auto f) {
    bench::bounded(pool, n, k, what, 900, f);
  };
  try {
    say(o, "registering " + std::to_string(o.clients) + " users");
    pool.block([&]() -> asio::awaitable<void> {
      auto us = co_await register_users(o.ep, tag, 0, o.clients, o.setup_concurrency);
      for (std::size_t i = 0; i < cs.size(); ++i) cs[i].u = us[i];
    });
    // Groups: the first member creates each, then posts into it later (same connection).
    std::vector<std::shared_ptr<ws_stream>> owners(static_cast<std::size_t>(groups));
    say(o, "creating " + std::to_string(groups) + " groups");
    bounded(groups, 32, "create",
            [&](asio::io_context& io, std::size_t g) -> asio::awaitable<void> {
              auto s = std::make_shared<ws_stream>(io.get_executor());
              owners[g] = s;
              auto first = g * static_cast<std::size_t>(o.group);
              co_await ws_connect_auth(*s, o.ep, first, cs[first].u.token);
              std::vector<std::string> hs;
              for (std::size_t k = 1; k < static_cast<std::size_t>(o.group); ++k)
                hs.push_back(cs[first + k].u.handle);
              std::string title = "resume " + std::to_string(g);
              auto conv = co_await create_group(*s, hs, title);
              for (std::size_t k = 0; k < static_cast<std::size_t>(o.group); ++k)
                cs[first + k].conv = conv;
            });
    // Every client connects once and syncs (its position), then goes away.
    say(o, "first connection of every client");
    bounded(o.clients, o.connect_concurrency, "first connect",
            [&](asio::io_context& io, std::size_t i) -> asio::awaitable<void> {
              ws_stream s(io.get_executor());
              co_await ws_connect_auth(s, o.ep, i, cs[i].u.token);
              json::object req;
              req["op"] = "sync";
              std::string id = "sync";
              auto r = co_await ws_call(s, std::move(req), id);
              cs[i].pos = r["positions"].as_object().at(std::to_string(cs[i].conv)).as_int64();
              cs[i].last = cs[i].pos;
              s.abort();
            });
    say(o, "posting " + std::to_string(o.behind) + " messages into each group");
    auto tp = now_ns();
    bounded(groups, 64, "post", [&](asio::io_context&, std::size_t g) -> asio::awaitable<void> {
      auto conv = cs[g * static_cast<std::size_t>(o.group)].conv;
      co_await post_messages(*owners[g], conv, o.behind, 32, tag + "-g" + std::to_string(g));
      owners[g]->abort();
    });
    post_s = static_cast<double>(now_ns() - tp) / 1e9;
    pool.block([&]() -> asio::awaitable<void> { m0 = co_await fetch_metrics(o.ep); });
    say(o, "reconnect storm");
    c0 = proc_cpu(o.server_pid);
    auto t0 = now_ns();
    bounded(o.clients, o.connect_concurrency, "resume",
            [&](asio::io_context& io, std::size_t i) -> asio::awaitable<void> {
              auto& c = cs[i];
              c.t_start = now_ns();
              auto s = std::make_shared<ws_stream>(io.get_executor());
              ws[i] = s;
              co_await ws_connect_auth(*s, o.ep, i, c.u.token);
              json::object since;
              since[std::to_string(c.conv)] = c.pos;
              json::object req;
              req["op"] = "sync";
              req["since"] = std::move(since);
              std::string id = "sync";
              auto r = co_await ws_call(*s, std::move(req), id, on_other, &c);
              auto reached = r["positions"].as_object().at(std::to_string(c.conv)).as_int64();
              if (reached != c.pos + o.behind || c.last != reached) ++c.violations;
              c.synced = true;
              c.t_done = now_ns();
              s->abort();
            });
    storm_s = static_cast<double>(now_ns() - t0) / 1e9;
    c1 = proc_cpu(o.server_pid);
    pool.block([&]() -> asio::awaitable<void> { m1 = co_await fetch_metrics(o.ep); });
  } catch (const std::exception& e) {
    fatal = e.what();
  }
  ws.clear();
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench resume: failed: %s\n", fatal.c_str());
    return 2;
  }
  histogram lat;
  std::int64_t replayed = 0, violations = 0, missing = 0;
  for (auto& c : cs) {
    lat.record(c.t_done - c.t_start);
    replayed += c.received;
    violations += c.violations;
    if (!c.synced || c.received != o.behind) missing += 1;
  }
  bool ok = violations == 0 && missing == 0;
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  json::object j{{"workload", "w6_resume"},
                 {"target", "parley"},
                 {"clients", o.clients},
                 {"behind", o.behind},
                 {"group", o.group},
                 {"post_s", post_s},
                 {"catch_up_s", storm_s},
                 {"client_p50_ms", ms(lat.quantile(0.5))},
                 {"client_p99_ms", ms(lat.quantile(0.99))},
                 {"events_replayed", replayed},
                 {"violations", violations},
                 {"clients_incomplete", missing},
                 {"ok", ok}};
  cache_stats(m0, m1, j);
  if (c0 && c1) j["server_cpu_pct"] = 100.0 * (c1->total() - c0->total()) / storm_s;
  std::printf(
      "parley-bench resume: %d clients in %d groups of %d, each %d events behind\n"
      "all caught up %.2f s after the first reconnect (%" PRId64
      " events replayed = %.0f/s); per client p50 %.1f ms, p99 %.1f ms\n",
      o.clients, groups, o.group, o.behind, storm_s, replayed,
      static_cast<double>(replayed) / storm_s, ms(lat.quantile(0.5)), ms(lat.quantile(0.99)));
  if (j.contains("cache_hit_rate"))
    std::printf("event cache over the storm: hit rate %.3f, %.1f MiB, %.0f events held\n",
                j["cache_hit_rate"].to_number<double>(),
                j["cache_bytes"].to_number<double>() / 1048576.0,
                j["cache_events"].to_number<double>());
  std::printf("checks: %" PRId64 " violations, %" PRId64 " clients incomplete\nresult: %s\n",
              violations, missing, ok ? "OK" : "FAILED");
  if (o.json_line) std::printf("%s\n", json::serialize(j).c_str());
  return ok ? 0 : 1;
}

}  // namespace bench
