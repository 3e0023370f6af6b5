// parley-bench idle (W1): memory and CPU of idle connections.
//
// Opens N WebSocket connections (Parley: each a distinct user, authenticated and synced;
// peers: connected as user i; Socket.IO: also its CONNECT) a bounded number at a time,
// then keeps them idle. Reports the server's resident memory before and after (user-space
// RSS from /proc, so kernel socket buffers are not included) divided by N, and the
// server's CPU use while the connections sit idle (heartbeats only).
// With --procs P, P child processes hold N/P connections each (20,000 descriptors per
// process on this machine), and --source-addrs spreads them over 127.0.0.x.
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>

#include <signal.h>
#include <unistd.h>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <thread>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

const char* kUsage = R"(usage: parley-bench idle --url HOST:PORT --server-pid PID [options]

W1: server memory per idle connection and CPU used by heartbeats.

  --url HOST:PORT         server address; several, comma-separated, spread the
                          connections over a cluster's nodes                     [required]
  --server-pid PID        the server's process id (RSS and CPU are read from /proc; several,
                          comma-separated, are summed: a cluster's nodes)         [required]
  --connections N         idle connections to open                                [10000]
  --procs P               generator processes sharing the connections             [1]
  --source-addrs N        bind connection i to 127.0.0.(2 + i % N)                [0]
  --target T              parley | peer | socketio                                [parley]
  --hold S                seconds to watch the idle server's CPU                  [10]
  --settle S              seconds to wait after the last connect before reading RSS [2]
  --threads T             io threads per generator process                        [1]
  --setup-concurrency C   parallel REST register/login requests                   [16]
  --connect-concurrency C connects in flight                                      [256]
  --json                  also print one JSON line with every number
  --quiet                 no progress lines
)";

struct options : common_options {
  int connections = 10000;
  int procs = 1;
  std::string target = "parley";
  double hold_s = 10, settle_s = 2;
  int threads = 1;
  int setup_concurrency = 16;
  int connect_concurrency = 256;
};

// Summed over every server process (--server-pid P1,P2,... for the nodes of a cluster).
std::int64_t total_rss(const options& o) {
  std::int64_t sum = 0;
  for (auto pid : o.server_pids) sum += proc_rss(pid).value_or(0);
  return sum;
}
double total_cpu(const options& o) {  // seconds; -1 if any process could not be read
  double sum = 0;
  for (auto pid : o.server_pids) {
    auto c = proc_cpu(pid);
    if (!c) return -1;
    sum += c->total();
  }
  return sum;
}

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--connections")
      o.connections = ar.integer();
    else if (a == "--procs")
      o.procs = ar.integer();
    else if (a == "--target")
      o.target = ar.value();
    else if (a == "--hold")
      o.hold_s = ar.number();
    else if (a == "--settle")
      o.settle_s = ar.number();
    else if (a == "--threads")
      o.threads = ar.integer();
    else if (a == "--setup-concurrency")
      o.setup_concurrency = ar.integer();
    else if (a == "--connect-concurrency")
      o.connect_concurrency = ar.integer();
    else
      ar.unknown();
  }
  ar.require_url(o.ep);
  ar.require_target(o.target);
  if (o.connections < 1 || o.connections > 200000) ar.error("--connections is 1..200000");
  if (o.procs < 1 || o.procs > 64) ar.error("--procs is 1..64");
  if (o.threads < 1 || o.threads > 16) ar.error("--threads is 1..16");
  if (o.connect_concurrency < 1) o.connect_concurrency = 1;
  if (o.child < 0 && o.server_pid <= 0) ar.error("--server-pid is required");
  return o;
}

void say(const options& o, const std::string& s) {
  if (!o.quiet && o.child < 0) std::fprintf(stderr, "parley-bench idle: %s\n", s.c_str());
}

// One process's share of the connections: [first, first + n).
class holder {
 public:
  holder(const options& o, int first, int n) : o_(o), first_(first), n_(n), pool_(o.threads) {}
  ~holder() {
    for (auto& w : ws_) w.reset();
  }

  void register_users() {
    if (o_.target != "parley") return;
    pool_.block([&]() -> asio::awaitable<void> {
      users_ = co_await bench::register_users(o_.ep, tag_, first_, n_, o_.setup_concurrency);
    });
  }

  // Opens every connection; returns the seconds it took.
  double connect_all() {
    auto t0 = now_ns();
    ws_.resize(static_cast<std::size_t>(n_));
    bounded(pool_, n_, o_.connect_concurrency, "connect", 600,
            [this](asio::io_context& io, std::size_t i) { return open_one(io, i); });
    return static_cast<double>(now_ns() - t0) / 1e9;
  }

  std::int64_t dropped() const { return dropped_.load(); }
  std::string first_drop() const {
    std::lock_guard lk(mu_);
    return first_drop_;
  }

 private:
  asio::awaitable<void> open_one(asio::io_context& io, std::size_t i) {
    auto ws = std::make_shared<ws_stream>(io.get_executor());
    ws_[i] = ws;
    auto global = static_cast<std::size_t>(first_) + i;
    if (o_.target == "parley") {
      co_await ws_connect_auth(*ws, o_.ep, global, users_[i].token);
      json::object req;
      req["op"] = "sync";
      std::string id = "sync";
      co_await ws_call(*ws, std::move(req), id);
    } else {
      co_await connect_peer(*ws, o_.ep, o_.target == "socketio", global,
                            static_cast<std::int64_t>(global) + 1);
    }
    asio::co_spawn(io, idle_reader(ws), asio::detached);
  }

  // Keeps a read pending (pings are answered by the stream) and answers Engine.IO pings.
  asio::awaitable<void> idle_reader(std::shared_ptr<ws_stream> ws) {
    try {
      for (;;) {
        std::string_view m = co_await ws->read();
        if (o_.target == "socketio" && m == "2") ws->send("3");
      }
    } catch (const std::exception& e) {
      if (!stopping_.load()) {
        dropped_.fetch_add(1);
        std::lock_guard lk(mu_);
        if (first_drop_.empty())
          first_drop_ =
              std::string(e.what()) + " (close code " + std::to_string(ws->close_code()) + ")";
      }
    }
  }

 public:
  void close_all() {
    stopping_.store(true);
    pool_.block([&]() -> asio::awaitable<void> {
      for (auto& w : ws_)
        if (w) w->abort();
      co_return;
    });
  }

 private:
  const options& o_;
  int first_, n_;
  io_pool pool_;
  std::string tag_ = random_tag();
  std::vector<bench_user> users_;
  std::vector<std::shared_ptr<ws_stream>> ws_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> dropped_{0};
  mutable std::mutex mu_;
  std::string first_drop_;
};

std::pair<int, int> share(const options& o, int part, int parts) {
  int base = o.connections / parts, extra = o.connections % parts;
  int first = part * base + std::min(part, extra);
  return {first, base + (part < extra ? 1 : 0)};
}

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9)));
}

int run_child(const options& o) {
  auto [first, n] = share(o, o.child, o.procs);
  holder h(o, first, n);
  try {
    h.register_users();
    child_ready_and_wait();
    double t = h.connect_all();
    child_send_result(json::object{{"connected", n}, {"connect_s", t}});
  } catch (const std::exception& e) {
    child_send_error(e.what());
    return 2;
  }
  std::string line;
  std::getline(std::cin, line);  // "stop" or EOF
  std::cout << "result "
            << json::serialize(
                   json::object{{"dropped", h.dropped()}, {"first_drop", h.first_drop()}})
            << std::endl;
  h.close_all();
  return 0;
}

}  // namespace

int idle_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  raise_fd_limit();
  if (o.child >= 0) return run_child(o);

  std::int64_t rss0 = 0, rss1 = 0;
  double connect_s = 0, cpu_pct = 0;
  std::int64_t dropped = 0;
  std::string first_drop, fatal;
  std::vector<child_proc> kids;
  std::unique_ptr<holder> h;
  try {
    if (o.procs > 1) {
      kids = start_children(argc, argv, o.procs);
      for (auto& k : kids)
        if (auto l = child_read_line(k); l != "ready") throw std::runtime_error(l);
    } else {
      h = std::make_unique<holder>(o, 0, o.connections);
      h->register_users();
    }
    say(o,
        "users ready; reading the server's RSS, then connecting " + std::to_string(o.connections));
    sleep_s(1);
    rss0 = total_rss(o);
    auto t0 = now_ns();
    if (h) {
      connect_s = h->connect_all();
    } else {
      for (auto& k : kids) child_write_line(k, "go 0");
      for (auto& k : kids)
        if (auto l = child_read_line(k); l.rfind("result ", 0) != 0) throw std::runtime_error(l);
      connect_s = static_cast<double>(now_ns() - t0) / 1e9;
    }
    say(o, std::to_string(o.connections) + " connected in " + fmt2(connect_s) + " s; settling");
    sleep_s(o.settle_s);
    rss1 = total_rss(o);
    auto c0 = total_cpu(o);
    auto w0 = now_ns();
    sleep_s(o.hold_s);
    auto c1 = total_cpu(o);
    double wall = static_cast<double>(now_ns() - w0) / 1e9;
    if (c0 >= 0 && c1 >= 0) cpu_pct = 100.0 * (c1 - c0) / wall;
    if (h) {
      dropped = h->dropped();
      first_drop = h->first_drop();
      h->close_all();
    } else {
      for (auto& k : kids) {
        child_write_line(k, "stop");
        auto l = child_read_line(k);
        auto j = json::parse(l.substr(7)).as_object();
        dropped += j["dropped"].to_number<std::int64_t>();
        if (first_drop.empty()) first_drop = j["first_drop"].as_string().c_str();
      }
    }
  } catch (const std::exception& e) {
    fatal = e.what();
    for (auto& k : kids) kill(k.pid, SIGTERM);
  }
  bool kids_ok = reap_children(kids);
  h.reset();
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench idle: failed: %s\n", fatal.c_str());
    return 2;
  }
  bool ok = dropped == 0 && kids_ok && rss0 > 0 && rss1 > 0;
  double per = static_cast<double>(rss1 - rss0) / o.connections;
  std::printf("parley-bench idle: %d %s connections (%d process(es)) opened in %.2f s = %.0f/s\n",
              o.connections, o.target.c_str(), o.procs, connect_s, o.connections / connect_s);
  std::printf("server RSS: %.1f MiB before, %.1f MiB after = %.0f bytes per connection\n",
              static_cast<double>(rss0) / 1048576.0, static_cast<double>(rss1) / 1048576.0, per);
  std::printf("server CPU while idle for %.1f s: %.2f%% of one core\n", o.hold_s, cpu_pct);
  if (dropped)
    std::printf("connections dropped while idle: %" PRId64 ", first: %s\n", dropped,
                first_drop.c_str());
  std::printf("result: %s\n", ok ? "OK" : "FAILED");
  if (o.json_line)
    std::printf("%s\n", json::serialize(json::object{{"workload", "w1_idle"},
                                                     {"target", o.target},
                                                     {"connections", o.connections},
                                                     {"procs", o.procs},
                                                     {"connect_s", connect_s},
                                                     {"rss_before_bytes", rss0},
                                                     {"rss_after_bytes", rss1},
                                                     {"rss_bytes_per_conn", per},
                                                     {"heartbeat_cpu_pct", cpu_pct},
                                                     {"hold_s", o.hold_s},
                                                     {"dropped", dropped},
                                                     {"ok", ok}})
                            .c_str());
  return ok ? 0 : 1;
}

}  // namespace bench
