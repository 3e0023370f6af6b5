// parley-bench: throughput and latency of one group conversation on a running Parley server.
//
// Registers and logs in N users over REST, the first creates a group with all of them, all
// N connect over WebSocket (auth, then sync without since), then K of them send messages as
// fast as acknowledgements allow (at most W unacknowledged per sender) for a fixed time after
// a warm-up. Reports acknowledged sends/s, delivered events/s over all N receivers, latency
// percentiles, the tool's own CPU use, and checks the event stream while measuring (gapless
// increasing seq per receiver, no duplicates, every acknowledged message delivered to every
// member, acks match the delivered events).
//
// All of the tool's I/O is async on one (or --threads) io_context thread(s); Beast lives in
// net.cpp only.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/system/system_error.hpp>

#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "histogram.hpp"
#include "net.hpp"

namespace bench {
namespace {

namespace json = boost::json;
using asio::use_awaitable;

// ---------------------------------------------------------------------------------------
// Options

struct options {
  std::string host;
  std::uint16_t port = 0;
  int members = 100;
  int senders = 10;
  int window = 32;
  double duration_s = 10;
  double warmup_s = 2;
  int threads = 1;
  int text_bytes = 32;
  double drain_timeout_s = 30;
  int setup_concurrency = 8;
  long server_pid = 0;
  bool json_line = false;
  bool full_parse = false;
  bool quiet = false;
  int inject_drop = 0;  // checker self-test: member 1 ignores every Nth event frame
  // What is measured: a Parley server (REST users, a group, auth + sync) or a peer speaking
  // the bench protocol of bench/peers/README.md (no auth; `join` to room --conv), plain
  // WebSocket (Bun, Node ws) or inside Engine.IO/Socket.IO framing.
  enum class target_kind { parley, peer, socketio } target = target_kind::parley;
  std::int64_t peer_conv = 1;
};

const char* kUsage = R"(usage: parley-bench --url HOST:PORT [options]

Measures one group conversation on a running Parley server: N members connected over
WebSocket, K of them sending with a bounded pipeline window. Prints acknowledged sends/s,
delivered events/s (over all N receivers), send->ack and send->delivery latency, the
tool's own CPU use, and the correctness checks (must all be zero).

  --url HOST:PORT         server address (ws:// or http:// prefix accepted)       [required]
  --members N             group members, all connected                            [100]
  --senders K             members that send (the first K)                         [10]
  --window W              unacknowledged sends allowed per sender                 [32]
  --duration S            measured seconds                                        [10]
  --warmup S              seconds of sending before measuring                     [2]
  --threads T             io_context threads of the tool (1 or 2 is plenty)       [1]
  --text-bytes B          message text length (holds the send timestamp)          [32]
  --drain-timeout S       wait this long after the end for outstanding acks/events [30]
  --setup-concurrency C   parallel REST register/login requests                   [8]
  --server-pid PID        also report the server's CPU use during the measurement
  --full-parse            parse every frame with Boost.JSON (default: a fast path for
                          event frames in the server's layout, Boost.JSON for the rest)
  --json                  also print one JSON line with every number (last line)
  --quiet                 no progress lines on stderr
  --target T              parley: a Parley server (REST register/login, group, auth+sync);
                          peer: a bench-protocol peer (bench/peers: Bun, Node ws), member
                          i connects to /v1/ws?user=<i+1> and joins room --conv;
                          socketio: the Socket.IO peer (same, in Engine.IO framing)  [parley]
  --conv C                room the members join with --target peer|socketio       [1]
  --inject-drop N         self-test of the checks: member 1 ignores every Nth event it
                          receives, so gaps and losses must be reported (and exit 1)
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "parley-bench: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options o;
  std::string url;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage_error(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  auto num = [&](int& i) -> double {
    std::string a = argv[i];
    std::string v = need(i);
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || d < 0) usage_error(a + ": not a number: " + v);
    return d;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--url")
      url = need(i);
    else if (a == "--members")
      o.members = static_cast<int>(num(i));
    else if (a == "--senders")
      o.senders = static_cast<int>(num(i));
    else if (a == "--window")
      o.window = static_cast<int>(num(i));
    else if (a == "--duration")
      o.duration_s = num(i);
    else if (a == "--warmup")
      o.warmup_s = num(i);
    else if (a == "--threads")
      o.threads = static_cast<int>(num(i));
    else if (a == "--text-bytes")
      o.text_bytes = static_cast<int>(num(i));
    else if (a == "--drain-timeout")
      o.drain_timeout_s = num(i);
    else if (a == "--setup-concurrency")
      o.setup_concurrency = static_cast<int>(num(i));
    else if (a == "--server-pid")
      o.server_pid = static_cast<long>(num(i));
    else if (a == "--json")
      o.json_line = true;
    else if (a == "--full-parse")
      o.full_parse = true;
    else if (a == "--quiet")
      o.quiet = true;
    else if (a == "--target") {
      auto t = need(i);
      if (t == "parley")
        o.target = options::target_kind::parley;
      else if (t == "peer")
        o.target = options::target_kind::peer;
      else if (t == "socketio")
        o.target = options::target_kind::socketio;
      else
        usage_error("--target is parley, peer or socketio");
    } else if (a == "--conv")
      o.peer_conv = static_cast<std::int64_t>(num(i));
    else if (a == "--inject-drop")
      o.inject_drop = static_cast<int>(num(i));
    else
      usage_error("unknown argument " + a);
  }
  if (url.empty()) usage_error("--url is required");
  for (std::string_view pre : {"ws://", "http://"})
    if (url.starts_with(pre)) url.erase(0, pre.size());
  if (auto slash = url.find('/'); slash != std::string::npos) url.erase(slash);
  auto colon = url.rfind(':');
  if (colon == std::string::npos) usage_error("--url takes HOST:PORT");
  o.host = url.substr(0, colon);
  unsigned port = 0;
  auto ps = url.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc() || p != ps.data() + ps.size() || port == 0 || port > 65535)
    usage_error("bad port in --url: " + ps);
  o.port = static_cast<std::uint16_t>(port);
  if (o.host.starts_with('[') && o.host.ends_with(']'))
    o.host = o.host.substr(1, o.host.size() - 2);
  if (o.members < 2 || o.members > 1000) usage_error("--members is 2..1000");
  if (o.senders < 1 || o.senders > o.members) usage_error("--senders is 1..members");
  if (o.window < 1 || o.window > 256)
    usage_error("--window is 1..256 (the server's in-flight limit)");
  if (o.duration_s <= 0) usage_error("--duration must be > 0");
  if (o.threads < 1 || o.threads > 16) usage_error("--threads is 1..16");
  if (o.text_bytes < 24 || o.text_bytes > 16000) usage_error("--text-bytes is 24..16000");
  if (o.setup_concurrency < 1) o.setup_concurrency = 1;
  if (o.peer_conv < 1) usage_error("--conv must be a positive integer");
  return o;
}

// ---------------------------------------------------------------------------------------
// Clocks and CPU

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct cpu_sample {
  double user = 0, sys = 0;
  double total() const { return user + sys; }
};

cpu_sample self_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

// utime + stime of another process from /proc/<pid>/stat, or nullopt.
std::optional<cpu_sample> proc_cpu(long pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  std::istringstream rest(s.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14 -> f[11], stime f[12].
  if (f.size() < 13) return std::nullopt;
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return cpu_sample{std::stod(f[11]) / hz, std::stod(f[12]) / hz};
}

// The whole machine from /proc/stat: busy (user+nice+system+irq+softirq), idle (+iowait)
// and steal, in seconds summed over all CPUs.
struct machine_sample {
  double busy = 0, idle = 0, steal = 0;
};

std::optional<machine_sample> machine_cpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double v[8] = {};
  if (!(in >> cpu) || cpu != "cpu") return std::nullopt;
  for (auto& x : v)
    if (!(in >> x)) return std::nullopt;
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  // user nice system idle iowait irq softirq steal
  return machine_sample{(v[0] + v[1] + v[2] + v[5] + v[6]) / hz, (v[3] + v[4]) / hz, v[7] / hz};
}

// ---------------------------------------------------------------------------------------
// State

// A counter written by one thread and read by others (progress, drain): relaxed atomics,
// incremented without a locked instruction.
struct counter {
  std::atomic<std::int64_t> v{0};
  void add(std::int64_t n = 1) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::int64_t n) { v.store(n, std::memory_order_relaxed); }
  std::int64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct worker {
  asio::io_context io{1};
  histogram ack_lat, deliv_lat;
  std::int64_t acks_in_window = 0;
  std::int64_t deliveries_in_window = 0;
};

struct conn {
  int idx = 0;
  std::string handle, token;
  std::int64_t uid = 0;
  worker* w = nullptr;
  std::unique_ptr<ws_stream> ws;

  // setup replies (string ids)
  std::string setup_id;
  std::optional<json::object> setup_reply;
  bool sio_open = false, sio_connected = false;  // Engine.IO open / Socket.IO CONNECT ack

  // receiving
  std::int64_t sync_pos = -1;
  counter last_seq;                  // -1 until the sync position is known
  counter events;                    // events of the group conversation received
  std::int64_t ours = 0;             // message.created events of this run
  std::vector<std::int64_t> last_n;  // per sender: last counter seen (-1 none)

  // sending (sender_idx >= 0)
  int sender_idx = -1;
  bool sending = false;
  std::int64_t next_n = 0;
  counter inflight;
  counter acked;
  counter max_ack_seq;
  std::vector<std::int64_t> send_ns, ack_seq, echo_seq;
  std::int64_t send_errors = 0;
  std::int64_t duplicate_acks = 0;
  std::string first_error;

  // checks (violations)
  std::int64_t gaps = 0, gap_missing = 0, dups = 0, reordered = 0, skipped = 0;
  std::int64_t first_mismatch = 0, early_events = 0, seq_mismatch = 0, double_reply = 0;
  std::int64_t parse_errors = 0, unexpected_replies = 0, notices = 0, other_conv = 0, foreign = 0;
  std::string first_parse_error, first_unexpected;
  bool closed_unexpectedly = false;
  std::string close_info;
  counter reader_done;
  std::int64_t injected = 0;
};

struct run_state {
  options opt;
  std::string tag;  // unique per run: handles and client_msg_ids
  std::int64_t conv = 0;
  // Measured window [t_start, t_end) on the steady clock; set once before sending starts.
  std::atomic<std::int64_t> t_start{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> t_end{std::numeric_limits<std::int64_t>::max()};
  std::atomic<bool> stopping{false};
  std::string padding;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::unique_ptr<conn>> conns;
};

run_state* g = nullptr;

// ---------------------------------------------------------------------------------------
// Frames

struct ev_view {
  std::int64_t conv = 0, seq = 0, ts = 0, sender = 0, sent_ns = -1;
  std::string_view type, cmid;
};

bool lit(std::string_view s, std::size_t& p, std::string_view l) {
  if (s.compare(p, l.size(), l) != 0) return false;
  p += l.size();
  return true;
}

bool num(std::string_view s, std::size_t& p, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data() + p, s.data() + s.size(), out);
  if (ec != std::errc()) return false;
  p = static_cast<std::size_t>(ptr - s.data());
  return true;
}

// A JSON string without escapes, after its opening quote.
bool plain_str(std::string_view s, std::size_t& p, std::string_view& out) {
  auto q = s.find('"', p);
  if (q == std::string_view::npos) return false;
  out = s.substr(p, q - p);
  if (out.find('\\') != std::string_view::npos) return false;
  p = q + 1;
  return true;
}

// Fast path for event frames exactly as the server lays them out (src/core/codec.cpp);
// anything else falls back to Boost.JSON.
bool fast_event(std::string_view f, ev_view& e) {
  std::size_t p = 0;
  std::string_view id;
  if (!lit(f, p, R"({"ev":{"conv":)") || !num(f, p, e.conv) || !lit(f, p, R"(,"seq":)") ||
      !num(f, p, e.seq) || !lit(f, p, R"(,"id":")") || !plain_str(f, p, id) ||
      !lit(f, p, R"(,"ts":)") || !num(f, p, e.ts) || !lit(f, p, R"(,"type":")") ||
      !plain_str(f, p, e.type) || !lit(f, p, R"(,"sender":)") || !num(f, p, e.sender))
    return false;
  e.cmid = {};
  if (lit(f, p, R"(,"client_msg_id":")") && !plain_str(f, p, e.cmid)) return false;
  if (!lit(f, p, R"(,"data":)")) return false;
  e.sent_ns = -1;
  if (e.type == "message.created") {
    if (!lit(f, p, R"({"text":")")) return false;
    std::int64_t t = 0;
    if (num(f, p, t)) e.sent_ns = t;
  }
  return f.size() >= 2 && f.substr(f.size() - 2) == "}}";
}

bool json_event(const json::value& v, ev_view& e) {
  if (!v.is_object()) return false;
  const auto& o = v.get_object();
  auto i64 = [&](const char* k, std::int64_t& out) {
    auto* x = o.if_contains(k);
    if (!x || !x->is_int64()) return false;
    out = x->get_int64();
    return true;
  };
  if (!i64("conv", e.conv) || !i64("seq", e.seq) || !i64("sender", e.sender)) return false;
  i64("ts", e.ts);
  auto* t = o.if_contains("type");
  if (!t || !t->is_string()) return false;
  e.type = t->get_string();
  e.cmid = {};
  if (auto* c = o.if_contains("client_msg_id"); c && c->is_string()) e.cmid = c->get_string();
  e.sent_ns = -1;
  if (auto* d = o.if_contains("data"); d && d->is_object())
    if (auto* tx = d->get_object().if_contains("text"); tx && tx->is_string()) {
      std::string_view s = tx->get_string();
      std::int64_t ns = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), ns);
      if (ec == std::errc() && ptr != s.data()) e.sent_ns = ns;
    }
  return true;
}

bool in_window(std::int64_t t) {
  return t >= g->t_start.load(std::memory_order_relaxed) &&
         t < g->t_end.load(std::memory_order_relaxed);
}

void pump(conn& c);

void on_event(conn& c, const ev_view& e, std::int64_t now) {
  if (g->opt.inject_drop > 0 && c.idx == 1 && ++c.injected % g->opt.inject_drop == 0) return;
  if (e.conv != g->conv) {
    ++c.other_conv;
    return;
  }
  auto last = c.last_seq.get();
  if (last < 0) {
    ++c.early_events;  // before the sync reply told where live delivery starts
  } else if (e.seq <= last) {
    ++c.dups;  // duplicate or out of order: not counted as a delivery
    return;
  } else if (e.seq != last + 1) {
    ++c.gaps;
    c.gap_missing += e.seq - last - 1;
  }
  c.last_seq.set(e.seq);
  c.events.add();
  if (in_window(now)) {
    ++c.w->deliveries_in_window;
    if (e.sent_ns > 0) c.w->deliv_lat.record(now - e.sent_ns);
  }
  if (e.type != "message.created") return;
  // client_msg_id of this run: <tag>-<sender index>-<counter>
  auto& tag = g->tag;
  if (e.cmid.size() <= tag.size() + 1 || e.cmid.compare(0, tag.size(), tag) != 0 ||
      e.cmid[tag.size()] != '-') {
    ++c.foreign;
    return;
  }
  std::size_t p = tag.size() + 1;
  std::int64_t s = 0, n = 0;
  if (!num(e.cmid, p, s) || !lit(e.cmid, p, "-") || !num(e.cmid, p, n) || p != e.cmid.size() ||
      s < 0 || s >= static_cast<std::int64_t>(c.last_n.size())) {
    ++c.foreign;
    return;
  }
  ++c.ours;
  auto& ln = c.last_n[static_cast<std::size_t>(s)];
  if (n <= ln)
    ++c.reordered;
  else if (n != ln + 1)
    c.skipped += n - ln - 1;  // expected only for sends that failed
  ln = std::max(ln, n);
  if (s == c.sender_idx && n < c.next_n) {
    auto un = static_cast<std::size_t>(n);
    c.echo_seq[un] = e.seq;
    if (c.ack_seq[un] > 0 && c.ack_seq[un] != e.seq) ++c.seq_mismatch;
  }
}

void on_ack(conn& c, std::int64_t n, const json::object& o, std::int64_t now) {
  if (c.sender_idx < 0 || n < 0 || n >= c.next_n) {
    ++c.unexpected_replies;
    if (c.first_unexpected.empty()) c.first_unexpected = json::serialize(o);
    return;
  }
  auto un = static_cast<std::size_t>(n);
  c.inflight.add(-1);
  if (auto* r = o.if_contains("result"); r && r->is_object()) {
    const auto& ro = r->get_object();
    std::int64_t seq = 0;
    if (auto* s = ro.if_contains("seq"); s && s->is_int64()) seq = s->get_int64();
    if (seq <= 0) ++c.seq_mismatch;  // an ack without a valid seq
    if (auto* d = ro.if_contains("duplicate"); d && d->is_bool() && d->get_bool())
      ++c.duplicate_acks;
    if (c.ack_seq[un] != 0) ++c.double_reply;
    c.ack_seq[un] = seq;
    if (c.echo_seq[un] > 0 && c.echo_seq[un] != seq) ++c.seq_mismatch;
    c.acked.add();
    if (seq > c.max_ack_seq.get()) c.max_ack_seq.set(seq);
    if (in_window(now)) {
      ++c.w->acks_in_window;
      c.w->ack_lat.record(now - c.send_ns[un]);
    }
  } else {
    ++c.send_errors;
    if (c.first_error.empty()) c.first_error = json::serialize(o);
  }
  pump(c);
}

void on_frame(conn& c, std::string_view f, std::int64_t now) {
  ev_view e;
  if (!g->opt.full_parse && fast_event(f, e)) return on_event(c, e, now);
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(f.data(), f.size()), ec);
  if (ec || !v.is_object()) {
    ++c.parse_errors;
    if (c.first_parse_error.empty()) c.first_parse_error = std::string(f.substr(0, 200));
    return;
  }
  auto& o = v.get_object();
  if (auto* ev = o.if_contains("ev")) {
    if (!json_event(*ev, e)) {
      ++c.parse_errors;
      if (c.first_parse_error.empty()) c.first_parse_error = std::string(f.substr(0, 200));
      return;
    }
    return on_event(c, e, now);
  }
  if (auto* id = o.if_contains("id")) {
    if (id->is_int64()) return on_ack(c, id->get_int64(), o, now);
    if (id->is_string() && id->get_string() == c.setup_id) {
      c.setup_reply = std::move(o);
      return;
    }
    ++c.unexpected_replies;
    if (c.first_unexpected.empty()) c.first_unexpected = std::string(f.substr(0, 300));
    return;
  }
  if (o.contains("notice")) {
    ++c.notices;
    return;
  }
  ++c.unexpected_replies;
  if (c.first_unexpected.empty()) c.first_unexpected = std::string(f.substr(0, 300));
}

bool socketio() {
  return g->opt.target == options::target_kind::socketio;
}

// Socket.IO peer: one Engine.IO packet per WebSocket message (bench/peers/README.md).
void on_sio_message(conn& c, std::string_view m, std::int64_t now) {
  constexpr std::string_view pre = R"(42["m",)";
  if (m.starts_with(pre) && m.ends_with("]"))
    return on_frame(c, m.substr(pre.size(), m.size() - pre.size() - 1), now);
  if (m == "2") return c.ws->send("3");  // Engine.IO ping -> pong
  if (m.starts_with("40")) {
    c.sio_connected = true;
    return;
  }
  if (m.starts_with("0{")) {
    c.sio_open = true;
    return c.ws->send("40");  // Socket.IO CONNECT to "/"
  }
  ++c.unexpected_replies;
  if (c.first_unexpected.empty()) c.first_unexpected = std::string(m.substr(0, 300));
}

void on_message(conn& c, std::string_view m) {
  auto now = now_ns();
  if (socketio()) return on_sio_message(c, m, now);
  std::size_t i = 0;
  while (i < m.size()) {
    auto j = m.find('\n', i);
    if (j == std::string_view::npos) j = m.size();
    if (j > i) on_frame(c, m.substr(i, j - i), now);
    i = j + 1;
  }
}

// Queues one request frame, wrapped as a Socket.IO event for --target socketio.
void send_request(conn& c, std::string f) {
  if (socketio()) {
    std::string w;
    w.reserve(f.size() + 8);
    w += R"(42["m",)";
    w += f;
    w += ']';
    return c.ws->send(std::move(w));
  }
  c.ws->send(std::move(f));
}

void send_one(conn& c, std::int64_t now) {
  auto n = c.next_n++;
  c.send_ns.push_back(now);
  c.ack_seq.push_back(0);
  c.echo_seq.push_back(0);
  std::string ts = std::to_string(now);
  std::string text = ts;
  text += ' ';
  if (text.size() < static_cast<std::size_t>(g->opt.text_bytes))
    text.append(g->padding, 0, static_cast<std::size_t>(g->opt.text_bytes) - text.size());
  std::string f;
  f.reserve(96 + text.size());
  f += R"({"id":)";
  f += std::to_string(n);
  f += R"(,"op":"send","conv":)";
  f += std::to_string(g->conv);
  f += R"(,"client_msg_id":")";
  f += g->tag;
  f += '-';
  f += std::to_string(c.sender_idx);
  f += '-';
  f += std::to_string(n);
  f += R"(","text":")";
  f += text;
  f += R"("})";
  c.inflight.add();
  send_request(c, std::move(f));
}

void pump(conn& c) {
  if (!c.sending) return;
  auto now = now_ns();
  while (c.inflight.get() < g->opt.window) {
    if (now >= g->t_end.load(std::memory_order_relaxed) ||
        g->stopping.load(std::memory_order_relaxed)) {
      c.sending = false;
      return;
    }
    send_one(c, now);
  }
}

// ---------------------------------------------------------------------------------------
// Connection setup

// Sends a request with a string id and reads until its reply arrives (frames read
// meanwhile are handled as usual). Returns the result object; throws on an error reply.
asio::awaitable<json::object> setup_call(conn& c, std::string id, json::object req) {
  req["id"] = id;
  std::string op = req["op"].as_string().c_str();
  c.setup_id = id;
  c.setup_reply.reset();
  send_request(c, json::serialize(req));
  while (!c.setup_reply) on_message(c, co_await c.ws->read());
  auto r = std::move(*c.setup_reply);
  c.setup_reply.reset();
  c.setup_id.clear();
  auto* res = r.if_contains("result");
  if (!res || !res->is_object())
    throw std::runtime_error("user " + c.handle + ": " + op + " failed: " + json::serialize(r));
  co_return res->get_object();
}

asio::awaitable<void> read_loop(conn& c) {
  try {
    for (;;) on_message(c, co_await c.ws->read());
  } catch (const boost::system::system_error& e) {
    if (!g->stopping.load()) {
      c.closed_unexpectedly = true;
      c.close_info =
          e.code().message() + " (close code " + std::to_string(c.ws->close_code()) + ")";
    }
  } catch (const std::exception& e) {
    if (!g->stopping.load()) {
      c.closed_unexpectedly = true;
      c.close_info = e.what();
    }
  }
  c.reader_done.set(1);
}

asio::awaitable<void> connect_auth(conn& c) {
  c.ws = std::make_unique<ws_stream>(c.w->io.get_executor());
  co_await c.ws->connect(g->opt.host, g->opt.port, "/v1/ws");
  json::object req;  // (named: GCC 12 mis-compiles braced temporaries inside co_await)
  req["op"] = "auth";
  req["token"] = c.token;
  co_await setup_call(c, std::string("auth"), std::move(req));
}

// Peers (bench protocol): connect as user idx+1 without auth, join the room. A fresh room
// starts at seq 0, so that is the live position (checked by the gapless-seq checks).
asio::awaitable<void> connect_join(conn& c) {
  c.ws = std::make_unique<ws_stream>(c.w->io.get_executor());
  // (named: GCC 12 mis-compiles temporaries inside co_await)
  std::string path = socketio() ? "/socket.io/?EIO=4&transport=websocket&user=" : "/v1/ws?user=";
  path += std::to_string(c.uid);
  co_await c.ws->connect(g->opt.host, g->opt.port, path);
  if (socketio())
    while (!c.sio_connected) on_message(c, co_await c.ws->read());
  json::object req;
  req["op"] = "join";
  req["conv"] = g->conv;
  co_await setup_call(c, std::string("join"), std::move(req));
}

asio::awaitable<void> sync_and_listen(conn& c) {
  if (g->opt.target == options::target_kind::parley) {
    json::object req;
    req["op"] = "sync";
    auto r = co_await setup_call(c, std::string("sync"), std::move(req));
    auto key = std::to_string(g->conv);
    auto* pos = r["positions"].as_object().if_contains(key);
    if (!pos || !pos->is_int64())
      throw std::runtime_error("user " + c.handle +
                               ": sync reply lacks the group: " + json::serialize(r));
    c.sync_pos = pos->get_int64();
  } else {
    c.sync_pos = 0;
  }
  if (c.last_seq.get() < 0)
    c.last_seq.set(c.sync_pos);
  else if (c.last_seq.get() != c.sync_pos)
    ++c.first_mismatch;
  asio::co_spawn(c.w->io, read_loop(c), asio::detached);
}

// ---------------------------------------------------------------------------------------
// Orchestration helpers

struct task_group {
  std::atomic<int> done{0}, failed{0};
  std::mutex mu;
  std::string first_error;
};

// Task groups are shared with their tasks: a failed setup step may return while others run.
using task_group_ptr = std::shared_ptr<task_group>;

template <class F>
void spawn(asio::io_context& io, const task_group_ptr& tgp, F&& f) {
  asio::co_spawn(io, std::forward<F>(f), [tgp](std::exception_ptr ep) {
    auto& tg = *tgp;
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        std::lock_guard lk(tg.mu);
        if (tg.first_error.empty()) tg.first_error = e.what();
      }
      tg.failed.fetch_add(1);
    }
    tg.done.fetch_add(1);
  });
}

asio::awaitable<void> sleep_ms(int ms) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(use_awaitable);
}

asio::awaitable<void> sleep_until_ns(std::int64_t t_ns) {
  asio::steady_timer t(co_await asio::this_coro::executor,
                       std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t_ns)));
  co_await t.async_wait(use_awaitable);
}

asio::awaitable<void> wait_all(task_group_ptr tgp, int n, const char* what, double timeout_s) {
  auto& tg = *tgp;
  auto deadline = now_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
  while (tg.done.load() < n) {
    if (tg.failed.load() > 0) break;
    if (now_ns() > deadline) throw std::runtime_error(std::string(what) + ": timed out");
    co_await sleep_ms(2);
  }
  if (tg.failed.load() > 0) {
    std::lock_guard lk(tg.mu);
    throw std::runtime_error(std::string(what) + ": " + tg.first_error);
  }
}

void progress(const std::string& s) {
  if (!g->opt.quiet) std::fprintf(stderr, "parley-bench: %s\n", s.c_str());
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// ---------------------------------------------------------------------------------------
// The run

struct results {
  double setup_users_s = 0, setup_ws_s = 0;
  std::int64_t sync_pos = 0;
  bool sync_pos_consistent = true;
  cpu_sample tool0, tool1, tool_end;
  std::optional<cpu_sample> srv0, srv1;
  std::optional<machine_sample> mach0, mach1;
  std::int64_t t_start_actual = 0, t_end_actual = 0;
  std::vector<double> per_sec_sends, per_sec_deliveries;
  bool drained = false;
  double drain_s = 0;
  std::string fatal;
};

asio::awaitable<void> orchestrate(results& R) {
  auto& o = g->opt;
  auto& conns = g->conns;
  int n = o.members;

  const bool parley = o.target == options::target_kind::parley;
  if (!parley) {
    g->conv = o.peer_conv;
    for (auto& c : conns) {
      c->uid = c->idx + 1;
      c->handle = "user" + std::to_string(c->uid);
    }
  }

  // 1. Users over REST.
  if (parley) progress("registering and logging in " + std::to_string(n) + " users");
  auto t0 = now_ns();
  if (parley) {
    auto next = std::make_shared<std::atomic<int>>(0);
    auto tg = std::make_shared<task_group>();
    auto& io = g->workers[0]->io;
    for (int k = 0; k < std::min(o.setup_concurrency, n); ++k) {
      spawn(io, tg, [next, n]() -> asio::awaitable<void> {
        for (int i; (i = next->fetch_add(1)) < n;) {
          auto& c = *g->conns[static_cast<std::size_t>(i)];
          auto body = json::serialize(
              json::object{{"handle", c.handle}, {"password", "bench-password-" + g->tag}});
          auto r = co_await http_request(g->opt.host, g->opt.port, "POST", "/v1/register", body);
          if (r.status != 200)
            throw std::runtime_error("register " + c.handle + ": HTTP " + std::to_string(r.status) +
                                     " " + r.body);
          r = co_await http_request(g->opt.host, g->opt.port, "POST", "/v1/login", body);
          if (r.status != 200)
            throw std::runtime_error("login " + c.handle + ": HTTP " + std::to_string(r.status) +
                                     " " + r.body);
          auto v = json::parse(r.body).as_object();
          c.token = v["token"].as_string().c_str();
          c.uid = v["user"].as_object()["id"].as_int64();
        }
      });
    }
    co_await wait_all(tg, std::min(o.setup_concurrency, n), "register/login", 300);
  }
  R.setup_users_s = static_cast<double>(now_ns() - t0) / 1e9;

  // 2. The first user creates the group with everyone else (over WebSocket).
  auto t1 = now_ns();
  if (parley) {
    auto tg = std::make_shared<task_group>();
    auto& c0 = *conns[0];
    spawn(c0.w->io, tg, [&c0, n]() -> asio::awaitable<void> {
      co_await connect_auth(c0);
      json::array members;
      for (int i = 1; i < n; ++i)
        members.emplace_back(g->conns[static_cast<std::size_t>(i)]->handle);
      json::object req;
      req["op"] = "conv.create";
      req["kind"] = "group";
      req["title"] = "bench " + g->tag;
      req["members"] = std::move(members);
      auto r = co_await setup_call(c0, std::string("create"), std::move(req));
      g->conv = r["conversation"].as_object()["id"].as_int64();
    });
    co_await wait_all(tg, 1, "conv.create", 60);
  }
  progress((parley ? "group " + std::to_string(g->conv) + " created; connecting "
                   : "peer room " + std::to_string(g->conv) + "; connecting ") +
           std::to_string(n) + " WebSockets");

  // 3. Everyone connects, authenticates and syncs (live only).
  {
    auto tg = std::make_shared<task_group>();
    for (auto& cp : conns) {
      auto* c = cp.get();
      spawn(c->w->io, tg, [c, parley]() -> asio::awaitable<void> {
        if (!parley)
          co_await connect_join(*c);
        else if (c->idx != 0)
          co_await connect_auth(*c);
        co_await sync_and_listen(*c);
      });
    }
    co_await wait_all(tg, n, parley ? "connect/auth/sync" : "connect/join", 120);
  }
  R.setup_ws_s = static_cast<double>(now_ns() - t1) / 1e9;
  R.sync_pos = conns[0]->sync_pos;
  for (auto& c : conns) R.sync_pos_consistent = R.sync_pos_consistent && c->sync_pos == R.sync_pos;

  // 4. Send: warm-up, then the measured window.
  auto begin = now_ns() + 10'000'000;
  const std::int64_t t_start = begin + static_cast<std::int64_t>(o.warmup_s * 1e9);
  const std::int64_t t_end = t_start + static_cast<std::int64_t>(o.duration_s * 1e9);
  g->t_start.store(t_start);
  g->t_end.store(t_end);
  co_await sleep_until_ns(begin);
  for (int s = 0; s < o.senders; ++s) {
    auto* c = conns[static_cast<std::size_t>(s)].get();
    asio::post(c->w->io, [c] {
      c->sending = true;
      pump(*c);
    });
  }
  progress("sending: " + fmt("%.1f", o.warmup_s) + " s warm-up, then " + fmt("%.1f", o.duration_s) +
           " s measured");

  auto totals = [&] {
    std::int64_t a = 0, d = 0;
    for (auto& c : conns) {
      a += c->acked.get();
      d += c->events.get();
    }
    return std::pair{a, d};
  };

  co_await sleep_until_ns(t_start);
  R.t_start_actual = now_ns();
  R.tool0 = self_cpu();
  R.srv0 = proc_cpu(o.server_pid);
  R.mach0 = machine_cpu();
  auto prev = totals();
  auto prev_t = R.t_start_actual;
  for (int sec = 1;; ++sec) {
    auto tick = std::min(t_start + static_cast<std::int64_t>(sec) * 1'000'000'000, t_end);
    co_await sleep_until_ns(tick);
    auto now = now_ns();
    auto cur = totals();
    double dt = static_cast<double>(now - prev_t) / 1e9;
    if (dt > 0.5) {  // skip a short last slice
      R.per_sec_sends.push_back(static_cast<double>(cur.first - prev.first) / dt);
      R.per_sec_deliveries.push_back(static_cast<double>(cur.second - prev.second) / dt);
      progress("t=" + std::to_string(sec) + "s  acked/s " + fmt("%.0f", R.per_sec_sends.back()) +
               "  delivered/s " + fmt("%.0f", R.per_sec_deliveries.back()));
    }
    prev = cur;
    prev_t = now;
    if (tick >= t_end) break;
  }
  R.t_end_actual = now_ns();
  R.tool1 = self_cpu();
  R.srv1 = proc_cpu(o.server_pid);
  R.mach1 = machine_cpu();

  // 5. Drain: every send answered, every receiver at the last acknowledged seq.
  auto drain_deadline = t_end + static_cast<std::int64_t>(o.drain_timeout_s * 1e9);
  for (;;) {
    std::int64_t inflight = 0, top = 0;
    for (int s = 0; s < o.senders; ++s) {
      inflight += conns[static_cast<std::size_t>(s)]->inflight.get();
      top = std::max(top, conns[static_cast<std::size_t>(s)]->max_ack_seq.get());
    }
    bool all = inflight == 0;
    for (auto& c : conns) all = all && (c->last_seq.get() >= top || c->reader_done.get());
    if (all) {
      R.drained = true;
      break;
    }
    if (now_ns() > drain_deadline) break;
    co_await sleep_ms(2);
  }
  R.drain_s = static_cast<double>(now_ns() - t_end) / 1e9;
  if (R.drained) co_await sleep_ms(200);  // anything extra (duplicates) would show up now
  R.tool_end = self_cpu();

  // 6. Close every connection (close frame, 2 s bound), then stop.
  g->stopping.store(true);
  {
    auto tg = std::make_shared<task_group>();
    for (auto& cp : conns) {
      auto* c = cp.get();
      spawn(c->w->io, tg, [c]() -> asio::awaitable<void> { co_await c->ws->close(2000); });
    }
    try {
      co_await wait_all(tg, n, "close", 5);
    } catch (const std::exception&) {
    }
  }
}

// ---------------------------------------------------------------------------------------
// Report

struct pct {
  double median = 0, min = 0, max = 0;
};

pct spread(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

int report(const results& R) {
  auto& o = g->opt;
  auto& conns = g->conns;
  histogram ack, deliv;
  std::int64_t acks_w = 0, deliv_w = 0;
  for (auto& w : g->workers) {
    ack.merge(w->ack_lat);
    deliv.merge(w->deliv_lat);
    acks_w += w->acks_in_window;
    deliv_w += w->deliveries_in_window;
  }
  double dur = o.duration_s;
  double sends_ps = static_cast<double>(acks_w) / dur;
  double deliv_ps = static_cast<double>(deliv_w) / dur;

  // Totals and checks.
  std::int64_t total_acked = 0, sent = 0, send_errors = 0, dup_acks = 0, top = 0, unacked = 0;
  std::int64_t lost_own = 0, phantom_own = 0;
  std::string first_error;
  for (int s = 0; s < o.senders; ++s) {
    auto& c = *conns[static_cast<std::size_t>(s)];
    total_acked += c.acked.get();
    sent += c.next_n;
    send_errors += c.send_errors;
    dup_acks += c.duplicate_acks;
    unacked += c.inflight.get();
    top = std::max(top, c.max_ack_seq.get());
    if (first_error.empty()) first_error = c.first_error;
    for (std::size_t k = 0; k < c.ack_seq.size(); ++k) {
      if (c.ack_seq[k] > 0 && c.echo_seq[k] == 0) ++lost_own;
      if (c.ack_seq[k] == 0 && c.echo_seq[k] > 0) ++phantom_own;
    }
  }
  std::int64_t gaps = 0, gap_missing = 0, dups = 0, reordered = 0, skipped = 0, first_mismatch = 0,
               early = 0, seq_mismatch = 0, double_reply = 0, parse_errors = 0, unexpected = 0,
               notices = 0, other_conv = 0, foreign = 0, ours = 0, events = 0, behind = 0, lost = 0,
               extra = 0, closed = 0;
  std::string first_parse, first_unexp, first_close;
  for (auto& cp : conns) {
    auto& c = *cp;
    gaps += c.gaps;
    gap_missing += c.gap_missing;
    dups += c.dups;
    reordered += c.reordered;
    skipped += c.skipped;
    first_mismatch += c.first_mismatch;
    early += c.early_events;
    seq_mismatch += c.seq_mismatch;
    double_reply += c.double_reply;
    parse_errors += c.parse_errors;
    unexpected += c.unexpected_replies;
    notices += c.notices;
    other_conv += c.other_conv;
    foreign += c.foreign;
    ours += c.ours;
    events += c.events.get();
    if (c.last_seq.get() < top) behind += top - c.last_seq.get();
    if (c.ours < total_acked) lost += total_acked - c.ours;
    if (c.ours > total_acked) extra += c.ours - total_acked;
    if (c.closed_unexpectedly) {
      ++closed;
      if (first_close.empty()) first_close = c.handle + ": " + c.close_info;
    }
    if (first_parse.empty()) first_parse = c.first_parse_error;
    if (first_unexp.empty()) first_unexp = c.first_unexpected;
  }
  std::int64_t violations =
      gaps + dups + reordered + first_mismatch + early + seq_mismatch + double_reply + dup_acks +
      lost + extra + behind + lost_own + phantom_own + parse_errors +
      (skipped > send_errors * o.members ? skipped - send_errors * o.members : 0) +
      (R.sync_pos_consistent ? 0 : 1);
  bool ok = violations == 0 && send_errors == 0 && unacked == 0 && closed == 0 && R.drained &&
            unexpected == 0;

  double window_real = static_cast<double>(R.t_end_actual - R.t_start_actual) / 1e9;
  double tool_cpu = R.tool1.total() - R.tool0.total();
  double tool_pct = 100.0 * tool_cpu / window_real;
  std::optional<double> srv_cpu;
  if (R.srv0 && R.srv1) srv_cpu = R.srv1->total() - R.srv0->total();
  auto ps = spread(R.per_sec_sends);
  auto pd = spread(R.per_sec_deliveries);
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };

  std::printf(
      "parley-bench: %d members, %d senders x window %d, %.1f s measured after %.1f s warm-up, "
      "%d tool thread(s), %d-byte texts, %s parsing\n",
      o.members, o.senders, o.window, o.duration_s, o.warmup_s, o.threads, o.text_bytes,
      o.full_parse ? "full JSON" : "fast-path");
  const char* target = o.target == options::target_kind::parley ? "parley"
                       : o.target == options::target_kind::peer ? "peer"
                                                                : "socketio";
  if (o.target == options::target_kind::parley)
    std::printf("setup: %d users registered+logged in in %.2f s; group %" PRId64
                " created; %d WebSockets authed+synced in %.2f s (live from seq %" PRId64 ")\n",
                o.members, R.setup_users_s, g->conv, o.members, R.setup_ws_s, R.sync_pos);
  else
    std::printf("setup: target %s; %d WebSockets connected and joined room %" PRId64
                " in %.2f s (live from seq %" PRId64 ")\n",
                target, o.members, g->conv, R.setup_ws_s, R.sync_pos);
  std::printf("acked sends:      %10" PRId64
              " in %.1f s = %9.0f /s   (per second: median %.0f, min %.0f, max %.0f)\n",
              acks_w, dur, sends_ps, ps.median, ps.min, ps.max);
  std::printf("delivered events: %10" PRId64
              " in %.1f s = %9.0f /s   (per second: median %.0f, min %.0f, max %.0f)\n",
              deliv_w, dur, deliv_ps, pd.median, pd.min, pd.max);
  std::printf(
      "send->ack      latency: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms  (n=%" PRIu64
      ")\n",
      ms(ack.quantile(0.5)), ms(ack.quantile(0.99)), ms(ack.max()), ack.mean() / 1e6, ack.count());
  std::printf(
      "send->delivery latency: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms  (n=%" PRIu64
      ")\n",
      ms(deliv.quantile(0.5)), ms(deliv.quantile(0.99)), ms(deliv.max()), deliv.mean() / 1e6,
      deliv.count());
  std::printf(
      "tool CPU during the window: %.2f s in %.2f s = %.0f%% of one core (user %.2f, sys %.2f); "
      "whole run %.2f s\n",
      tool_cpu, window_real, tool_pct, R.tool1.user - R.tool0.user, R.tool1.sys - R.tool0.sys,
      R.tool_end.total());
  if (srv_cpu)
    std::printf("server CPU during the window (pid %ld): %.2f s = %.0f%% of one core\n",
                o.server_pid, *srv_cpu, 100.0 * *srv_cpu / window_real);
  std::optional<double> other_cpu;
  if (R.mach0 && R.mach1) {
    double busy = R.mach1->busy - R.mach0->busy;
    double avail = busy + (R.mach1->idle - R.mach0->idle) + (R.mach1->steal - R.mach0->steal);
    double steal = R.mach1->steal - R.mach0->steal;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (srv_cpu) other_cpu = std::max(0.0, busy - tool_cpu - *srv_cpu);
    std::printf(
        "machine CPU during the window (%ld CPUs): %.2f s busy of %.2f s (%.0f%%), steal %.2f s",
        ncpu, busy, avail, avail > 0 ? 100.0 * busy / avail : 0.0, steal);
    if (other_cpu) std::printf("; other processes %.2f s", *other_cpu);
    std::printf("\n");
    if (other_cpu && *other_cpu > 0.05 * avail)
      std::printf(
          "WARNING: other processes used %.0f%% of the machine during the window; the numbers are "
          "not clean\n",
          100.0 * *other_cpu / avail);
  }
  std::printf("whole run: %" PRId64 " sends, %" PRId64 " acked, %" PRId64 " errors, %" PRId64
              " unanswered; last seq %" PRId64 "; %" PRId64
              " events received in total; "
              "%s %.3f s after the end\n",
              sent, total_acked, send_errors, unacked, top, events,
              R.drained ? "all delivered to every member" : "NOT DRAINED", R.drain_s);
  std::printf(
      "checks: gaps %" PRId64 " (missing seqs %" PRId64 "), duplicates/out-of-order %" PRId64
      ", per-sender reorder %" PRId64 ", skipped %" PRId64 ", wrong first seq %" PRId64
      ", early %" PRId64 ", ack/event seq mismatch %" PRId64 ", duplicate acks %" PRId64
      ", double replies %" PRId64 ", lost (member x msg) %" PRId64 ", extra %" PRId64
      ", behind %" PRId64 ", own lost %" PRId64 ", own phantom %" PRId64 ", parse errors %" PRId64
      "%s => %s\n",
      gaps, gap_missing, dups, reordered, skipped, first_mismatch, early, seq_mismatch, dup_acks,
      double_reply, lost, extra, behind, lost_own, phantom_own, parse_errors,
      R.sync_pos_consistent ? "" : ", inconsistent sync positions",
      violations == 0 ? "0 violations" : (std::to_string(violations) + " VIOLATIONS").c_str());
  if (notices || other_conv || foreign)
    std::printf("other frames: notices %" PRId64 ", other conversations %" PRId64
                ", foreign messages %" PRId64 "\n",
                notices, other_conv, foreign);
  if (!first_error.empty()) std::printf("first send error: %s\n", first_error.c_str());
  if (unexpected)
    std::printf("unexpected replies: %" PRId64 ", first: %s\n", unexpected, first_unexp.c_str());
  if (closed)
    std::printf("connections closed by the server: %" PRId64 ", first: %s\n", closed,
                first_close.c_str());
  if (!first_parse.empty()) std::printf("first unparseable frame: %s\n", first_parse.c_str());
  std::printf("result: %s\n", ok ? "OK" : "FAILED");

  if (o.json_line) {
    json::object j{{"target", target},
                   {"members", o.members},
                   {"senders", o.senders},
                   {"window", o.window},
                   {"duration_s", o.duration_s},
                   {"warmup_s", o.warmup_s},
                   {"threads", o.threads},
                   {"text_bytes", o.text_bytes},
                   {"full_parse", o.full_parse},
                   {"acked_sends", acks_w},
                   {"sends_per_s", sends_ps},
                   {"delivered_events", deliv_w},
                   {"deliveries_per_s", deliv_ps},
                   {"sends_per_s_min_1s", ps.min},
                   {"sends_per_s_max_1s", ps.max},
                   {"ack_p50_ms", ms(ack.quantile(0.5))},
                   {"ack_p99_ms", ms(ack.quantile(0.99))},
                   {"ack_max_ms", ms(ack.max())},
                   {"ack_mean_ms", ack.mean() / 1e6},
                   {"delivery_p50_ms", ms(deliv.quantile(0.5))},
                   {"delivery_p99_ms", ms(deliv.quantile(0.99))},
                   {"delivery_max_ms", ms(deliv.max())},
                   {"delivery_mean_ms", deliv.mean() / 1e6},
                   {"tool_cpu_s", tool_cpu},
                   {"tool_cpu_pct", tool_pct},
                   {"window_s", window_real},
                   {"setup_users_s", R.setup_users_s},
                   {"setup_ws_s", R.setup_ws_s},
                   {"sent_total", sent},
                   {"acked_total", total_acked},
                   {"send_errors", send_errors},
                   {"unanswered", unacked},
                   {"last_seq", top},
                   {"drained", R.drained},
                   {"drain_s", R.drain_s},
                   {"violations", violations},
                   {"gaps", gaps},
                   {"duplicates", dups},
                   {"lost", lost},
                   {"unexpected_closes", closed},
                   {"ok", ok}};
    if (srv_cpu) {
      j["server_cpu_s"] = *srv_cpu;
      j["server_cpu_pct"] = 100.0 * *srv_cpu / window_real;
    }
    if (other_cpu) j["other_cpu_s"] = *other_cpu;
    std::printf("%s\n", json::serialize(j).c_str());
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  run_state st;
  g = &st;
  st.opt = parse_options(argc, argv);
  {
    std::random_device rd;
    char b[16];
    std::snprintf(b, sizeof b, "%06x", rd() & 0xffffff);
    st.tag = std::string("b") + b;
  }
  st.padding.assign(16000, 'x');
  for (int i = 0; i < st.opt.threads; ++i) st.workers.push_back(std::make_unique<worker>());
  for (int i = 0; i < st.opt.members; ++i) {
    auto c = std::make_unique<conn>();
    c->idx = i;
    c->handle = st.tag + "-" + std::to_string(i);
    c->w = st.workers[static_cast<std::size_t>(i % st.opt.threads)].get();
    c->last_seq.set(-1);
    c->last_n.assign(static_cast<std::size_t>(st.opt.senders), -1);
    if (i < st.opt.senders) c->sender_idx = i;
    st.conns.push_back(std::move(c));
  }

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : st.workers) guards.push_back(asio::make_work_guard(w->io));
  std::vector<std::thread> threads;
  for (auto& w : st.workers) threads.emplace_back([&io = w->io] { io.run(); });

  results R;
  std::promise<void> done;
  asio::co_spawn(st.workers[0]->io, orchestrate(R), [&](std::exception_ptr ep) {
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        R.fatal = e.what();
      }
    }
    done.set_value();
  });
  done.get_future().wait();
  st.stopping.store(true);
  guards.clear();
  for (auto& w : st.workers) w->io.stop();
  for (auto& t : threads) t.join();

  if (!R.fatal.empty()) {
    std::fprintf(stderr, "parley-bench: failed: %s\n", R.fatal.c_str());
    return 2;
  }
  int rc = report(R);
  // Connections go before their io_contexts.
  for (auto& c : st.conns) c->ws.reset();
  st.conns.clear();
  return rc;
}
