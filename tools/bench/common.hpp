// Shared pieces of parley-bench's workloads: clocks, CPU and memory readings, task groups
// for coroutines, Parley user setup over REST, and the child-process protocol used to spread
// one workload over several generator processes.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "histogram.hpp"
#include "net.hpp"

namespace bench {

namespace json = boost::json;

// Steady clock in ns. CLOCK_MONOTONIC is system-wide, so stamps compare across processes.
std::int64_t now_ns();

struct cpu_sample {
  double user = 0, sys = 0;
  double total() const { return user + sys; }
};
cpu_sample self_cpu();
// utime + stime of another process (all its threads), or nullopt.
std::optional<cpu_sample> proc_cpu(long pid);
// Resident set of a process in bytes (VmRSS), or nullopt.
std::optional<std::int64_t> proc_rss(long pid);
// The whole machine: busy, idle (+iowait) and steal seconds summed over CPUs.
struct machine_sample {
  double busy = 0, idle = 0, steal = 0;
};
std::optional<machine_sample> machine_cpu();

// A counter written by one thread and read by others: relaxed atomics.
struct counter {
  std::atomic<std::int64_t> v{0};
  void add(std::int64_t n = 1) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::int64_t n) { v.store(n, std::memory_order_relaxed); }
  std::int64_t get() const { return v.load(std::memory_order_relaxed); }
};

// Coroutines started together; the first failure is kept.
struct task_group {
  std::atomic<int> done{0}, failed{0};
  std::mutex mu;
  std::string first_error;
};
using task_group_ptr = std::shared_ptr<task_group>;

template <class F>
void spawn(asio::io_context& io, const task_group_ptr& tgp, F&& f) {
  asio::co_spawn(io, std::forward<F>(f), [tgp](std::exception_ptr ep) {
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        std::lock_guard lk(tgp->mu);
        if (tgp->first_error.empty()) tgp->first_error = e.what();
      }
      tgp->failed.fetch_add(1);
    }
    tgp->done.fetch_add(1);
  });
}

asio::awaitable<void> sleep_ms(int ms);
asio::awaitable<void> sleep_until_ns(std::int64_t t_ns);
// Waits until n tasks are done; throws on the first failure or after timeout_s.
asio::awaitable<void> wait_all(task_group_ptr tg, int n, const char* what, double timeout_s);

// Where the server is and how to reach it.
// --url may list several nodes of a cluster (HOST:PORT,HOST:PORT,...): WebSocket i goes
// to node i % n; REST setup (register, login) goes to the first.
struct endpoint {
  std::string host;  // the first node
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::uint16_t>> nodes;  // every node, the first too
  int source_addrs = 0;  // > 0: connection i binds to 127.0.0.(2 + i % source_addrs)
  std::string source_for(std::size_t i) const;
  const std::string& host_for(std::size_t i) const {
    return nodes.empty() ? host : nodes[i % nodes.size()].first;
  }
  std::uint16_t port_for(std::size_t i) const {
    return nodes.empty() ? port : nodes[i % nodes.size()].second;
  }
};

// A Parley user with a login token.
struct bench_user {
  std::string handle, token;
  std::int64_t uid = 0;
};
// Registers and logs in users tag-0 .. tag-(n-1) over REST, `concurrency` at a time.
asio::awaitable<std::vector<bench_user>> register_users(const endpoint& ep, std::string tag,
                                                        int first, int n, int concurrency);

// Sends a JSON request over a WebSocket and reads until the reply with the same string id;
// other frames read meanwhile go to `other` (may be null). Throws on an error reply.
asio::awaitable<json::object> ws_call(ws_stream& ws, json::object req, const std::string& id,
                                      void (*other)(void*, std::string_view) = nullptr,
                                      void* ctx = nullptr);
// Connects, authenticates with the token (auth frame) and returns once authenticated.
asio::awaitable<void> ws_connect_auth(ws_stream& ws, const endpoint& ep, std::size_t idx,
                                      const std::string& token);
// Connects with the token in the upgrade request (Authorization: Bearer): authenticated
// once the upgrade succeeds (a refused token fails the handshake with 401).
asio::awaitable<void> ws_connect_bearer(ws_stream& ws, const endpoint& ep, std::size_t idx,
                                        const std::string& token);

// Sends `count` messages to conv over an authenticated connection, at most `window`
// unacknowledged; client_msg_ids are <prefix>-<k>. Returns the last acknowledged seq.
// Other frames read meanwhile are ignored. Throws on an error reply.
asio::awaitable<std::int64_t> post_messages(ws_stream& ws, std::int64_t conv, int count, int window,
                                            std::string prefix);
// The same with the text of message k given by text(k) (plain text; it is JSON-quoted).
asio::awaitable<std::int64_t> post_messages(ws_stream& ws, std::int64_t conv, int count, int window,
                                            std::string prefix,
                                            std::function<std::string(int)> text);
// Creates a group of the given handles (the caller is its owner); returns its id.
asio::awaitable<std::int64_t> create_group(ws_stream& ws, std::vector<std::string> handles,
                                           std::string title);

// Histograms travel between processes as sparse JSON: [[bucket, count], ...].
json::object histogram_json(const histogram& h);
void histogram_merge_json(histogram& h, const json::object& o);

// A random run tag (letters and digits) for handles and client_msg_ids.
std::string random_tag();

// --- child processes ---------------------------------------------------------------------
// The parent runs `argv + --child i` P times with pipes. Protocol, one line each way:
//   child -> parent: "ready"            (set up and connected; waiting)
//   parent -> child: "go <t_begin_ns>"  (common start on the shared steady clock)
//   child -> parent: "result <json>"    (the child's raw numbers, merged by the parent)
// A child that fails writes "error <message>" instead and exits non-zero.
struct child_proc {
  int pid = -1;
  int to = -1;    // write end of the child's stdin
  int from = -1;  // read end of the child's stdout
  std::string buf;
};
std::vector<child_proc> start_children(int argc, char** argv, int procs);
// Reads one line from the child (blocking); throws when the child ended.
std::string child_read_line(child_proc& c);
void child_write_line(child_proc& c, const std::string& line);
// Waits for each child to exit; returns false if any failed.
bool reap_children(std::vector<child_proc>& cs);
// In a child: announce readiness and wait for the common start time.
std::int64_t child_ready_and_wait();
void child_send_result(const json::object& o);
void child_send_error(const std::string& msg);

// --- io threads --------------------------------------------------------------------------
// A few io_context threads; block() runs a coroutine on the first and waits for it.
// Declare the pool before anything that holds sockets, so those go first.
class io_pool {
 public:
  explicit io_pool(int threads);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;
  asio::io_context& io(std::size_t i) { return *ios_[i % ios_.size()]; }
  std::size_t size() const { return ios_.size(); }
  // Runs the coroutine made by f() on io(0); blocks until it ends; rethrows its exception.
  template <class F>
  void block(F f) {
    std::promise<std::exception_ptr> done;
    asio::co_spawn(io(0), f(), [&](std::exception_ptr ep) { done.set_value(ep); });
    if (auto ep = done.get_future().get()) std::rethrow_exception(ep);
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<std::thread> threads_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
};

// Runs f(io, i) for i in [0, n), each on io_of(i), at most k at once; returns when all are
// done; throws the first failure (or after timeout_s). Call it from a coroutine.
template <class IoOf, class F>
asio::awaitable<void> run_bounded(int n, int k, IoOf io_of, const char* what, double timeout_s,
                                  F f) {
  auto inflight = std::make_shared<std::atomic<int>>(0);
  auto tg = std::make_shared<task_group>();
  for (int i = 0; i < n; ++i) {
    while (inflight->load() >= k && tg->failed.load() == 0) co_await sleep_ms(1);
    if (tg->failed.load() > 0) break;
    inflight->fetch_add(1);
    asio::io_context& io = io_of(static_cast<std::size_t>(i));
    spawn(io, tg, [f, i, inflight, &io]() -> asio::awaitable<void> {
      struct release {
        std::shared_ptr<std::atomic<int>> n;
        ~release() { n->fetch_sub(1); }
      } rel{inflight};
      co_await f(io, static_cast<std::size_t>(i));
    });
  }
  co_await wait_all(tg, n, what, timeout_s);
}

// run_bounded over the pool's threads (round-robin), blocking until it is done.
template <class F>
void bounded(io_pool& pool, int n, int k, const char* what, double timeout_s, F f) {
  pool.block([&]() -> asio::awaitable<void> {
    co_await run_bounded(
        n, k, [&pool](std::size_t i) -> asio::io_context& { return pool.io(i); }, what, timeout_s,
        f);
  });
}

// Connects to a bench-protocol peer as user uid (bench/peers/README.md); for Socket.IO
// also completes the Engine.IO handshake and the Socket.IO CONNECT.
asio::awaitable<void> connect_peer(ws_stream& ws, const endpoint& ep, bool socketio,
                                   std::size_t idx, std::int64_t uid);

// Metrics of a Parley server (GET /metrics): name (with labels) -> value. Empty for a peer.
asio::awaitable<std::map<std::string, double>> fetch_metrics(const endpoint& ep);
// Cache figures from two metric snapshots: hit rate over the interval, bytes at the end.
void cache_stats(const std::map<std::string, double>& before,
                 const std::map<std::string, double>& after, json::object& out);

// --- options ---------------------------------------------------------------------------
// The options every workload has (see arg_reader::common).
struct common_options {
  endpoint ep;
  long server_pid = 0;            // --server-pid: read its CPU and memory from /proc
  std::vector<long> server_pids;  // --server-pid P1,P2,...: every node of a cluster (idle)
  int child = -1;                 // --child i: a generator process started by the parent
  bool json_line = false, quiet = false;
};

// Reads a workload's arguments: argv[1] may be the workload's name (skipped).
class arg_reader {
 public:
  arg_reader(int argc, char** argv, const char* usage);
  bool next();  // moves to the next argument; false at the end
  const std::string& arg() const { return cur_; }
  std::string value();  // the argument's value (the next word)
  double number();      // a non-negative number
  int integer();        // a non-negative integer
  [[noreturn]] void error(const std::string& msg) const;
  [[noreturn]] void unknown() const;
  // Options every workload has: --url, --source-addrs, --server-pid, --json, --quiet,
  // --child (internal), -h/--help. True if the current argument was one of them.
  bool common(common_options& o);
  // The value split at commas (an empty item is a usage error).
  std::vector<std::string> list();
  // Parses --url into ep (usage error if missing or bad).
  void require_url(endpoint& ep) const;
  // Usage error unless target is parley, peer or socketio.
  void require_target(const std::string& target) const;

 private:
  int argc_;
  char** argv_;
  const char* usage_;
  int i_;
  std::string cur_, url_;
};

std::string fmt0(double v);  // "%.0f"
std::string fmt1(double v);  // "%.1f"
std::string fmt2(double v);  // "%.2f"

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
long raise_fd_limit();

}  // namespace bench
