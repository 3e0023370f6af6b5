// parley-bench storm (W5): authenticated connections per second.
//
// Registers N users first (not timed), then opens N WebSockets with at most K connects in
// flight (loopback's SYN backlog, somaxconn 4096 and tcp_max_syn_backlog 2048, overflows long
// before a server's limits, and a dropped SYN costs a 1 s retransmit). A connection counts
// when it is authenticated (Parley: the upgrade, which carries the token in its
// Authorization header, or with --auth frame the reply to an auth request after it; peers:
// the upgrade, Socket.IO: its CONNECT). Reports connects/s over the whole storm and
// per-connect latency.
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cstdio>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

const char* kUsage = R"(usage: parley-bench storm --url HOST:PORT [options]

W5: authenticated connections per second, with a bounded number of connects in flight.

  --url HOST:PORT         server address                                          [required]
  --connections N         connections to open                                     [5000]
  --inflight K            connects in flight at once                              [200]
  --source-addrs N        bind connection i to 127.0.0.(2 + i % N)                [0]
  --target T              parley | peer | socketio                                [parley]
  --auth A                Parley only: header (the token in the upgrade request) or
                          frame (an auth request after the upgrade)               [header]
  --threads T             io threads                                              [1]
  --setup-concurrency C   parallel REST register/login requests (before the storm) [16]
  --server-pid PID        also report the server's CPU use during the storm
  --json                  also print one JSON line with every number
  --quiet                 no progress lines
)";

struct options : common_options {
  int connections = 5000;
  int inflight = 200;
  std::string target = "parley";
  std::string auth = "header";
  int threads = 1;
  int setup_concurrency = 16;
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--connections")
      o.connections = ar.integer();
    else if (a == "--inflight")
      o.inflight = ar.integer();
    else if (a == "--target")
      o.target = ar.value();
    else if (a == "--threads")
      o.threads = ar.integer();
    else if (a == "--auth")
      o.auth = ar.value();
    else if (a == "--setup-concurrency")
      o.setup_concurrency = ar.integer();
    else
      ar.unknown();
  }
  ar.require_url(o.ep);
  ar.require_target(o.target);
  if (o.connections < 1 || o.connections > 19000) ar.error("--connections is 1..19000");
  if (o.inflight < 1) ar.error("--inflight is at least 1");
  if (o.threads < 1 || o.threads > 16) ar.error("--threads is 1..16");
  if (o.auth != "header" && o.auth != "frame") ar.error("--auth is header or frame");
  return o;
}

}  // namespace

int storm_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  raise_fd_limit();
  io_pool pool(o.threads);
  std::vector<std::shared_ptr<ws_stream>> ws(static_cast<std::size_t>(o.connections));
  std::vector<bench_user> users;
  histogram lat;
  std::mutex lat_mu;
  double storm_s = 0;
  std::optional<cpu_sample> c0, c1;
  std::string fatal;
  try {
    if (o.target == "parley") {
      if (!o.quiet)
        std::fprintf(stderr, "parley-bench storm: registering %d users\n", o.connections);
      pool.block([&]() -> asio::awaitable<void> {
        users = co_await register_users(o.ep, random_tag(), 0, o.connections, o.setup_concurrency);
      });
    }
    if (!o.quiet) std::fprintf(stderr, "parley-bench storm: connecting\n");
    c0 = proc_cpu(o.server_pid);
    auto t0 = now_ns();
    bounded(pool, o.connections, o.inflight, "connect", 600,
            [&](asio::io_context& io, std::size_t idx) -> asio::awaitable<void> {
              auto start = now_ns();
              auto s = std::make_shared<ws_stream>(io.get_executor());
              ws[idx] = s;
              if (o.target == "parley" && o.auth == "header")
                co_await ws_connect_bearer(*s, o.ep, idx, users[idx].token);
              else if (o.target == "parley")
                co_await ws_connect_auth(*s, o.ep, idx, users[idx].token);
              else
                co_await connect_peer(*s, o.ep, o.target == "socketio", idx,
                                      static_cast<std::int64_t>(idx) + 1);
              auto d = now_ns() - start;
              std::lock_guard lk(lat_mu);
              lat.record(d);
            });
    storm_s = static_cast<double>(now_ns() - t0) / 1e9;
    c1 = proc_cpu(o.server_pid);
    pool.block([&]() -> asio::awaitable<void> {
      for (auto& s : ws)
        if (s) s->abort();
      co_return;
    });
  } catch (const std::exception& e) {
    fatal = e.what();
  }
  ws.clear();
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench storm: failed: %s\n", fatal.c_str());
    return 2;
  }
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  double rate = o.connections / storm_s;
  std::printf("parley-bench storm: %d %s connections%s, %d in flight: %.2f s = %.0f connects/s\n",
              o.connections, o.target.c_str(),
              o.target != "parley" ? ""
              : o.auth == "header" ? " (token in the upgrade)"
                                   : " (auth frame)",
              o.inflight, storm_s, rate);
  std::printf("connect latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", ms(lat.quantile(0.5)),
              ms(lat.quantile(0.99)), ms(lat.max()));
  std::optional<double> cpu;
  if (c0 && c1) {
    cpu = 100.0 * (c1->total() - c0->total()) / storm_s;
    std::printf("server CPU during the storm: %.0f%% of one core\n", *cpu);
  }
  std::printf("result: OK\n");
  if (o.json_line) {
    json::object j{{"workload", "w5_storm"},
                   {"target", o.target},
                   {"connections", o.connections},
                   {"inflight", o.inflight},
                   {"auth", o.target == "parley" ? o.auth : "none"},
                   {"storm_s", storm_s},
                   {"connects_per_s", rate},
                   {"connect_p50_ms", ms(lat.quantile(0.5))},
                   {"connect_p99_ms", ms(lat.quantile(0.99))},
                   {"connect_max_ms", ms(lat.max())},
                   {"ok", true}};
    if (cpu) j["server_cpu_pct"] = *cpu;
    std::printf("%s\n", json::serialize(j).c_str());
  }
  return 0;
}

}  // namespace bench
