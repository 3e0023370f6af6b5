// parley-bench fanout (W3, W4): group fan-out on a running server.
//
// R rooms of M members. Parley: users are registered and logged in over REST, the first
// member of each room creates the group with the others, every member connects over
// WebSocket (auth, then sync without since). Peers (bench/peers): member i connects as
// user i+1 and joins its room. Then one of three loads runs for a warm-up and a measured
// window:
//   window (default)  the first K members of each room send as fast as acks allow, at most
//                     W unacknowledged each (closed loop);
//   --rate X          X publishes/s over all rooms, spread evenly over the K senders of
//                     every room, on a fixed schedule (open loop: latency is measured from
//                     the scheduled time, so queueing shows);
//   --rounds          Bun-style rounds: every member of a room sends one message; the round
//                     ends when every member of the room has all M of them; then the next.
// The stream is checked while measuring (gapless increasing seq per receiver, no
// duplicates, every acknowledged message delivered to every member of its room, acks
// match the delivered events). --procs P spreads the rooms over P generator processes
// (children of this one) whose numbers are merged.
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

#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "frames.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

using asio::use_awaitable;

// ---------------------------------------------------------------------------------------
// Options

struct options : common_options {
  int rooms = 1;
  int members = 100;
  int senders = 10;
  int window = 32;
  bool window_set = false;
  double rate = 0;  // publishes/s over all rooms; 0 = closed loop
  bool rounds = false;
  double duration_s = 10;
  double warmup_s = 2;
  int threads = 1;
  int procs = 1;
  int text_bytes = 32;
  double drain_timeout_s = 30;
  int setup_concurrency = 8;
  int connect_concurrency = 256;
  bool full_parse = false;
  bool deflate = false;       // Parley: clients offer permessage-deflate
  double acks_ms = 0;         // Parley: every member acknowledges what it received this often
  double typing_ms = 0;       // Parley: every member says it is typing this often
  int inject_drop = 0;        // checker self-test: member 1 ignores every Nth event frame
  std::string workload_name;  // "w3_fanout", "w3_rounds" or as given by --workload-name
  enum class target_kind { parley, peer, socketio, nats } target = target_kind::parley;
  std::int64_t peer_conv = 1;
};

const char* kUsage = R"(usage: parley-bench [fanout] --url HOST:PORT [options]

Group fan-out (W3, W4): R rooms of M members, all connected over WebSocket. Prints
acknowledged sends/s, delivered events/s (over all receivers), send->ack and
send->delivery latency, the tool's and the server's CPU use, and the correctness checks
(must all be zero). Other workloads: parley-bench idle|storm|resume|history|rtt --help.

  --url HOST:PORT         server address (ws:// or http:// prefix accepted); several, comma-
                          separated, spread connections over a cluster's nodes   [required]
  --rooms R               rooms (groups)                                          [1]
  --members M             members per room, all connected                         [100]
  --senders K             members of each room that send (the first K)            [10]
  --window W              unacknowledged sends allowed per sender                 [32; 256 with --rate]
  --rate X                open loop: X publishes/s over all rooms on a fixed schedule
                          (latency from the scheduled time); 0 = closed loop      [0]
  --rounds                Bun-style rounds: every member sends one message, the round
                          ends when every member of the room has all of them
  --duration S            measured seconds                                        [10]
  --warmup S              seconds of sending before measuring                     [2]
  --threads T             io_context threads per generator process                [1]
  --procs P               generator processes; rooms are dealt out round-robin    [1]
  --source-addrs N        bind connection i to 127.0.0.(2 + i % N) (more ephemeral
                          ports on loopback)                                       [0: no bind]
  --text-bytes B          message text length (holds the send timestamp)          [32]
  --drain-timeout S       wait this long after the end for outstanding acks/events [30]
  --setup-concurrency C   parallel REST register/login requests                   [8]
  --connect-concurrency C WebSocket connects in flight during setup               [256]
  --server-pid PID        also report the server's CPU use during the measurement
  --acks MS               Parley: every member sends delivery receipts (op ack) for what
                          it received, every MS milliseconds                      [0: none]
  --typing MS             Parley: every member sends a typing start every MS ms   [0: none]
  --deflate               Parley: clients offer permessage-deflate and inflate what the
                          server compresses (websocket.deflate_min_bytes and up)
  --full-parse            parse every frame with Boost.JSON (default: a fast path for
                          event frames in the server's layout, Boost.JSON for the rest)
  --json                  also print one JSON line with every number (last line)
  --workload-name NAME    the "workload" field of the JSON line   [w3_fanout / w3_rounds]
  --quiet                 no progress lines on stderr
  --target T              parley: a Parley server (REST register/login, groups, auth+sync);
                          peer: a bench-protocol peer (bench/peers: Bun, Node ws), member
                          i connects to /v1/ws?user=<i+1> and joins room --conv + its room;
                          socketio: the Socket.IO peer (same, in Engine.IO framing);
                          nats: nats-server's WebSocket port, as a ceiling for raw
                          fan-out: each member subscribes to room.<C>, a send is a PUB
                          of the event frame, the sender's own copy counts as its ack,
                          and seqs are counted by the receiver (NATS has none)  [parley]
  --conv C                first room id with --target peer|socketio               [1]
  --inject-drop N         self-test of the checks: member 1 ignores every Nth event it
                          receives, so gaps and losses must be reported (and exit 1)
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "parley-bench: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--rooms")
      o.rooms = ar.integer();
    else if (a == "--members")
      o.members = ar.integer();
    else if (a == "--senders")
      o.senders = ar.integer();
    else if (a == "--window") {
      o.window = ar.integer();
      o.window_set = true;
    } else if (a == "--rate")
      o.rate = ar.number();
    else if (a == "--rounds")
      o.rounds = true;
    else if (a == "--duration")
      o.duration_s = ar.number();
    else if (a == "--warmup")
      o.warmup_s = ar.number();
    else if (a == "--threads")
      o.threads = ar.integer();
    else if (a == "--procs")
      o.procs = ar.integer();
    else if (a == "--text-bytes")
      o.text_bytes = ar.integer();
    else if (a == "--drain-timeout")
      o.drain_timeout_s = ar.number();
    else if (a == "--setup-concurrency")
      o.setup_concurrency = ar.integer();
    else if (a == "--connect-concurrency")
      o.connect_concurrency = ar.integer();
    else if (a == "--full-parse")
      o.full_parse = true;
    else if (a == "--deflate")
      o.deflate = true;
    else if (a == "--acks")
      o.acks_ms = ar.number();
    else if (a == "--typing")
      o.typing_ms = ar.number();
    else if (a == "--workload-name")
      o.workload_name = ar.value();
    else if (a == "--target") {
      auto t = ar.value();
      if (t == "parley")
        o.target = options::target_kind::parley;
      else if (t == "peer")
        o.target = options::target_kind::peer;
      else if (t == "socketio")
        o.target = options::target_kind::socketio;
      else if (t == "nats")
        o.target = options::target_kind::nats;
      else
        usage_error("--target is parley, peer, socketio or nats");
    } else if (a == "--conv")
      o.peer_conv = ar.integer();
    else if (a == "--inject-drop")
      o.inject_drop = ar.integer();
    else
      ar.unknown();
  }
  ar.require_url(o.ep);
  if (o.rooms < 1 || o.rooms > 10000) usage_error("--rooms is 1..10000");
  if (o.members < 2 || o.members > 1000) usage_error("--members is 2..1000");
  if (o.rounds) o.senders = o.members;
  if (o.senders < 1 || o.senders > o.members) usage_error("--senders is 1..members");
  if (o.rate > 0 && !o.window_set) o.window = 256;
  if (o.window < 1 || o.window > 256)
    usage_error("--window is 1..256 (the server's in-flight limit)");
  if (o.rate > 0 && o.rounds) usage_error("--rate and --rounds exclude each other");
  if (o.duration_s <= 0) usage_error("--duration must be > 0");
  if (o.threads < 1 || o.threads > 16) usage_error("--threads is 1..16");
  if (o.procs < 1 || o.procs > 64) usage_error("--procs is 1..64");
  if (o.procs > o.rooms) usage_error("--procs is at most --rooms (rooms are dealt out)");
  if (o.text_bytes < 24 || o.text_bytes > 16000) usage_error("--text-bytes is 24..16000");
  if (o.setup_concurrency < 1) o.setup_concurrency = 1;
  if (o.connect_concurrency < 1) o.connect_concurrency = 1;
  if (o.peer_conv < 1) usage_error("--conv must be a positive integer");
  if (o.workload_name.empty()) o.workload_name = o.rounds ? "w3_rounds" : "w3_fanout";
  return o;
}

// ---------------------------------------------------------------------------------------
// State

struct worker {
  asio::io_context io{1};
  histogram ack_lat, deliv_lat, round_lat;
  std::int64_t acks_in_window = 0;
  std::int64_t deliveries_in_window = 0;
  std::int64_t missed_sends = 0;  // --rate: a scheduled send found the window full
  std::vector<struct conn*> senders;
};

struct room_state {
  std::int64_t conv = 0;
  int global = 0;  // room number over all processes
  std::vector<struct conn*> members;
  // --rounds (touched only on the room's worker thread)
  std::int64_t round = -1;
  int done = 0;
  std::int64_t round_start_ns = 0;
  std::int64_t base_seq = 0;
  std::int64_t target_seq = 0;
  std::int64_t rounds_in_window = 0;
};

struct conn {
  int idx = 0;     // in this process
  int member = 0;  // in its room
  room_state* room = nullptr;
  std::string handle, token;
  std::int64_t uid = 0;
  worker* w = nullptr;
  std::unique_ptr<ws_stream> ws;

  std::string setup_id;
  std::optional<json::object> setup_reply;
  bool sio_open = false, sio_connected = false;  // Engine.IO open / Socket.IO CONNECT ack
  std::string nats_buf;                          // --target nats: an incomplete operation

  // receiving
  std::int64_t sync_pos = -1;
  counter last_seq;                  // -1 until the sync position is known
  counter events;                    // events of the room received
  std::int64_t ours = 0;             // message.created events of this run
  std::vector<std::int64_t> last_n;  // per sender: last counter seen (-1 none)

  // sending (sender_idx >= 0)
  int sender_idx = -1;
  bool sending = false;
  std::int64_t next_n = 0;
  std::int64_t next_due = 0;  // --rate: scheduled time of the next send
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
  // --acks / --typing: requests with id "x", their errors, the next due times
  std::int64_t chatter_sent = 0, chatter_errors = 0, acked_pos = 0;
  std::int64_t next_ack_ns = 0, next_typing_ns = 0;
  std::string first_chatter_error;
  std::string first_parse_error, first_unexpected;
  bool closed_unexpectedly = false;
  std::string close_info;
  counter reader_done;
  std::int64_t injected = 0;
};

struct run_state {
  options opt;
  std::string tag;                      // unique per process: handles and client_msg_ids
  std::int64_t sender_interval_ns = 0;  // --rate
  // Measured window [t_start, t_end) on the steady clock; set once before sending starts.
  std::atomic<std::int64_t> t_start{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> t_end{std::numeric_limits<std::int64_t>::max()};
  std::atomic<bool> stopping{false};
  std::string padding;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::unique_ptr<room_state>> rooms;
  std::vector<std::unique_ptr<conn>> conns;
};

run_state* g = nullptr;

// ---------------------------------------------------------------------------------------
// Frames

bool socketio() {
  return g->opt.target == options::target_kind::socketio;
}

bool nats() {
  return g->opt.target == options::target_kind::nats;
}

bool in_window(std::int64_t t) {
  return t >= g->t_start.load(std::memory_order_relaxed) &&
         t < g->t_end.load(std::memory_order_relaxed);
}

void pump(conn& c);
void start_round(room_state& r, std::int64_t now);

void on_round_progress(conn& c, std::int64_t now) {
  auto& r = *c.room;
  if (r.round < 0 || c.last_seq.get() != r.target_seq) return;
  if (++r.done < static_cast<int>(r.members.size())) return;
  if (in_window(r.round_start_ns)) {
    c.w->round_lat.record(now - r.round_start_ns);
    ++r.rounds_in_window;
  }
  if (now < g->t_end.load(std::memory_order_relaxed) && !g->stopping.load()) start_round(r, now);
}

void on_nats_echo(conn& c, const ev_view& e, std::int64_t now);

void on_event(conn& c, const ev_view& in, std::int64_t now) {
  if (g->opt.inject_drop > 0 && c.idx == 1 && ++c.injected % g->opt.inject_drop == 0) return;
  ev_view e = in;
  if (nats()) e.seq = c.last_seq.get() + 1;  // NATS has no seqs: count what arrives
  if (e.conv != c.room->conv) {
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
  if (e.type == "message.created") {
    // client_msg_id of this run: <tag>-<sender index in the room>-<counter>
    std::int64_t s = 0, n = 0;
    if (!parse_cmid(e.cmid, g->tag, s, n) || s >= static_cast<std::int64_t>(c.last_n.size())) {
      ++c.foreign;
    } else {
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
        if (nats() && e.sender == c.uid) on_nats_echo(c, e, now);
        if (c.ack_seq[un] > 0 && c.ack_seq[un] != e.seq) ++c.seq_mismatch;
      }
    }
  }
  if (g->opt.rounds) on_round_progress(c, now);
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
  if (g->opt.rate <= 0 && !g->opt.rounds) pump(c);
}

// NATS: the sender's own copy of its message stands for the acknowledgement.
void on_nats_echo(conn& c, const ev_view& e, std::int64_t now) {
  std::int64_t s = 0, n = 0;
  parse_cmid(e.cmid, g->tag, s, n);
  json::object o{{"id", n}, {"result", json::object{{"seq", e.seq}}}};
  on_ack(c, n, o, now);
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
    if (id->is_string() && id->get_string() == "x") {  // --acks / --typing
      if (!o.contains("result")) {
        ++c.chatter_errors;
        if (c.first_chatter_error.empty()) c.first_chatter_error = std::string(f.substr(0, 300));
      }
      return;
    }
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

// NATS protocol operations (MSG, PING, PONG, +OK, -ERR); an operation may span messages.
void on_nats_message(conn& c, std::string_view m, std::int64_t now) {
  c.nats_buf.append(m.data(), m.size());
  std::string_view b = c.nats_buf;
  std::size_t p = 0;
  for (;;) {
    auto eol = b.find("\r\n", p);
    if (eol == std::string_view::npos) break;
    auto line = b.substr(p, eol - p);
    if (line.starts_with("MSG ")) {
      auto sp = line.rfind(' ');
      std::size_t n = 0;
      auto sz = line.substr(sp + 1);
      std::from_chars(sz.data(), sz.data() + sz.size(), n);
      if (b.size() < eol + 2 + n + 2) break;  // the payload is not all here yet
      on_frame(c, b.substr(eol + 2, n), now);
      p = eol + 2 + n + 2;
      continue;
    }
    if (line == "PING") {
      c.ws->send("PONG\r\n");
    } else if (line.starts_with("-ERR")) {
      ++c.unexpected_replies;
      if (c.first_unexpected.empty()) c.first_unexpected = std::string(line);
    }
    p = eol + 2;
  }
  c.nats_buf.erase(0, p);
}

void on_message(conn& c, std::string_view m) {
  auto now = now_ns();
  if (socketio()) return on_sio_message(c, m, now);
  if (nats()) return on_nats_message(c, m, now);
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

// One send stamped `stamp` (now, or the scheduled time with --rate).
void send_one(conn& c, std::int64_t stamp) {
  auto n = c.next_n++;
  c.send_ns.push_back(stamp);
  c.ack_seq.push_back(0);
  c.echo_seq.push_back(0);
  std::string text = std::to_string(stamp);
  text += ' ';
  if (text.size() < static_cast<std::size_t>(g->opt.text_bytes))
    text.append(g->padding, 0, static_cast<std::size_t>(g->opt.text_bytes) - text.size());
  if (nats()) {
    // The event frame itself, as the peers would push it (fast_event's layout).
    std::string ev = R"({"ev":{"conv":)" + std::to_string(c.room->conv) +
                     R"(,"seq":0,"id":"n","ts":0,"type":"message.created","sender":)" +
                     std::to_string(c.uid) + R"(,"client_msg_id":")" + g->tag + "-" +
                     std::to_string(c.sender_idx) + "-" + std::to_string(n) +
                     R"(","data":{"text":")" + text + R"("}}})";
    c.inflight.add();
    return c.ws->send("PUB room." + std::to_string(c.room->conv) + " " + std::to_string(ev.size()) +
                      "\r\n" + ev + "\r\n");
  }
  std::string f;
  f.reserve(96 + text.size());
  f += R"({"id":)";
  f += std::to_string(n);
  f += R"(,"op":"send","conv":)";
  f += std::to_string(c.room->conv);
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

// Closed loop: keep the window full until the end.
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

// Rounds: every member of the room sends one message (message n = round number).
void start_round(room_state& r, std::int64_t now) {
  ++r.round;
  r.done = 0;
  r.round_start_ns = now;
  r.target_seq = r.base_seq + (r.round + 1) * static_cast<std::int64_t>(r.members.size());
  for (auto* c : r.members) send_one(*c, now);
}

// Open loop: every millisecond, each sender of this worker sends what is due.
asio::awaitable<void> rate_ticker(worker& w) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto t_end = g->t_end.load();
  for (;;) {
    auto now = now_ns();
    if (now >= t_end || g->stopping.load()) co_return;
    for (auto* c : w.senders) {
      while (c->next_due <= now && c->next_due < t_end) {
        if (c->inflight.get() < g->opt.window)
          send_one(*c, c->next_due);
        else if (in_window(c->next_due))
          ++w.missed_sends;
        c->next_due += g->sender_interval_ns;
      }
    }
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(use_awaitable);
  }
}

// --acks / --typing: the receipts and typing traffic of a chat app, beside the messages.
asio::awaitable<void> chatter_ticker(worker& w) {
  asio::steady_timer t(w.io);
  const auto acks_ns = static_cast<std::int64_t>(g->opt.acks_ms * 1e6);
  const auto typing_ns = static_cast<std::int64_t>(g->opt.typing_ms * 1e6);
  std::vector<conn*> mine;
  std::mt19937_64 rng(static_cast<std::uint64_t>(now_ns()));
  auto start = now_ns();
  for (auto& c : g->conns)
    if (c->w == &w) {
      mine.push_back(c.get());
      if (acks_ns)
        c->next_ack_ns =
            start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(acks_ns));
      if (typing_ns)
        c->next_typing_ns =
            start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(typing_ns));
    }
  while (!g->stopping.load() && now_ns() < g->t_end.load()) {
    auto now = now_ns();
    for (auto* c : mine) {
      if (acks_ns && now >= c->next_ack_ns) {
        c->next_ack_ns += acks_ns;
        auto pos = c->last_seq.get();
        if (pos > c->acked_pos) {
          c->acked_pos = pos;
          ++c->chatter_sent;
          send_request(*c, R"({"id":"x","op":"ack","positions":{")" +
                               std::to_string(c->room->conv) + "\":" + std::to_string(pos) + "}}");
        }
      }
      if (typing_ns && now >= c->next_typing_ns) {
        c->next_typing_ns += typing_ns;
        ++c->chatter_sent;
        send_request(*c,
                     R"({"id":"x","op":"typing","conv":)" + std::to_string(c->room->conv) + "}");
      }
    }
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(use_awaitable);
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
  std::string path = "/v1/ws";  // (named: GCC 12 mis-compiles temporaries inside co_await)
  std::string source = g->opt.ep.source_for(static_cast<std::size_t>(c.idx));
  if (g->opt.deflate) c.ws->offer_deflate();
  std::string host = g->opt.ep.host_for(static_cast<std::size_t>(c.idx));
  co_await c.ws->connect(host, g->opt.ep.port_for(static_cast<std::size_t>(c.idx)), path, source);
  if (g->opt.deflate && !c.ws->deflate())
    throw std::runtime_error("the server did not agree to permessage-deflate");
  json::object req;
  req["op"] = "auth";
  req["token"] = c.token;
  co_await setup_call(c, std::string("auth"), std::move(req));
}

// Peers (bench protocol): connect as user uid without auth, join the room. A fresh room
// starts at seq 0, so that is the live position (checked by the gapless-seq checks).
asio::awaitable<void> connect_join(conn& c) {
  c.ws = std::make_unique<ws_stream>(c.w->io.get_executor());
  std::string path = socketio() ? "/socket.io/?EIO=4&transport=websocket&user=" : "/v1/ws?user=";
  path += std::to_string(c.uid);
  std::string source = g->opt.ep.source_for(static_cast<std::size_t>(c.idx));
  std::string host = g->opt.ep.host_for(static_cast<std::size_t>(c.idx));
  co_await c.ws->connect(host, g->opt.ep.port_for(static_cast<std::size_t>(c.idx)), path, source);
  if (socketio())
    while (!c.sio_connected) on_message(c, co_await c.ws->read());
  json::object req;
  req["op"] = "join";
  req["conv"] = c.room->conv;
  co_await setup_call(c, std::string("join"), std::move(req));
}

// nats-server's WebSocket port: INFO, then CONNECT, SUB to the room, and a PING whose
// PONG says the subscription is in place.
asio::awaitable<void> connect_nats(conn& c) {
  c.ws = std::make_unique<ws_stream>(c.w->io.get_executor());
  std::string path = "/";
  std::string source = g->opt.ep.source_for(static_cast<std::size_t>(c.idx));
  std::string host = g->opt.ep.host_for(static_cast<std::size_t>(c.idx));
  co_await c.ws->connect(host, g->opt.ep.port_for(static_cast<std::size_t>(c.idx)), path, source);
  for (;;) {
    std::string_view m = co_await c.ws->read();
    if (m.starts_with("INFO")) break;
  }
  c.ws->send(R"(CONNECT {"verbose":false,"pedantic":false,"protocol":1})"
             "\r\nSUB room." +
             std::to_string(c.room->conv) + " 1\r\nPING\r\n");
  for (;;) {
    std::string_view m = co_await c.ws->read();
    if (m.find("-ERR") != std::string_view::npos)
      throw std::runtime_error("nats: " + std::string(m.substr(0, 200)));
    if (m.find("PONG") != std::string_view::npos) break;
  }
}

asio::awaitable<void> sync_and_listen(conn& c) {
  if (g->opt.target == options::target_kind::parley) {
    json::object req;
    req["op"] = "sync";
    auto r = co_await setup_call(c, std::string("sync"), std::move(req));
    auto key = std::to_string(c.room->conv);
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

void progress(const std::string& s) {
  if (!g->opt.quiet && g->opt.child < 0) std::fprintf(stderr, "parley-bench: %s\n", s.c_str());
}

// ---------------------------------------------------------------------------------------
// The run (one generator process)

struct local_results {
  double setup_users_s = 0, setup_ws_s = 0;
  bool sync_pos_consistent = true;
  cpu_sample tool0, tool1, tool_end;
  std::int64_t t_start_actual = 0, t_end_actual = 0;
  std::vector<double> per_sec_sends, per_sec_deliveries;
  bool drained = false;
  double drain_s = 0;
};

asio::awaitable<void> setup(local_results& R) {
  auto& o = g->opt;
  auto& conns = g->conns;
  int n = static_cast<int>(conns.size());
  const bool parley = o.target == options::target_kind::parley;

  // 1. Users over REST.
  auto t0 = now_ns();
  if (parley) {
    progress("registering and logging in " + std::to_string(n) + " users");
    auto users = co_await register_users(o.ep, g->tag, 0, n, o.setup_concurrency);
    for (int i = 0; i < n; ++i) {
      auto& c = *conns[static_cast<std::size_t>(i)];
      auto& u = users[static_cast<std::size_t>(i)];
      c.handle = u.handle;
      c.token = u.token;
      c.uid = u.uid;
    }
  }
  R.setup_users_s = static_cast<double>(now_ns() - t0) / 1e9;

  // 2. The first member of each room creates the group with everyone else.
  auto t1 = now_ns();
  if (parley) {
    auto tg = std::make_shared<task_group>();
    for (auto& rp : g->rooms) {
      auto* r = rp.get();
      auto& c0 = *r->members[0];
      spawn(c0.w->io, tg, [r, &c0]() -> asio::awaitable<void> {
        co_await connect_auth(c0);
        json::array members;
        for (std::size_t i = 1; i < r->members.size(); ++i)
          members.emplace_back(r->members[i]->handle);
        json::object req;
        req["op"] = "conv.create";
        req["kind"] = "group";
        req["title"] = "bench " + g->tag + " " + std::to_string(r->global);
        req["members"] = std::move(members);
        auto res = co_await setup_call(c0, std::string("create"), std::move(req));
        r->conv = res["conversation"].as_object()["id"].as_int64();
      });
    }
    co_await wait_all(tg, static_cast<int>(g->rooms.size()), "conv.create", 120);
  }
  progress(std::to_string(g->rooms.size()) + " room(s) ready; connecting " + std::to_string(n) +
           " WebSockets");

  // 3. Everyone connects, authenticates and syncs (live only); a bounded number at once
  // (loopback's SYN backlog overflows long before the server's limits).
  co_await run_bounded(
      n, o.connect_concurrency,
      [](std::size_t i) -> asio::io_context& { return g->conns[i]->w->io; },
      parley ? "connect/auth/sync" : "connect/join", 300,
      [parley](asio::io_context&, std::size_t i) -> asio::awaitable<void> {
        auto* c = g->conns[i].get();
        if (nats())
          co_await connect_nats(*c);
        else if (!parley)
          co_await connect_join(*c);
        else if (c->member != 0)
          co_await connect_auth(*c);
        co_await sync_and_listen(*c);
      });
  R.setup_ws_s = static_cast<double>(now_ns() - t1) / 1e9;
  for (auto& rp : g->rooms) {
    rp->base_seq = rp->members[0]->sync_pos;
    for (auto* c : rp->members)
      R.sync_pos_consistent = R.sync_pos_consistent && c->sync_pos == rp->base_seq;
  }
}

asio::awaitable<void> measure(local_results& R, std::int64_t begin) {
  auto& o = g->opt;
  auto& conns = g->conns;
  const std::int64_t t_start = begin + static_cast<std::int64_t>(o.warmup_s * 1e9);
  const std::int64_t t_end = t_start + static_cast<std::int64_t>(o.duration_s * 1e9);
  g->t_start.store(t_start);
  g->t_end.store(t_end);
  co_await sleep_until_ns(begin);
  if (o.rounds) {
    for (auto& rp : g->rooms) {
      auto* r = rp.get();
      asio::post(r->members[0]->w->io, [r] { start_round(*r, now_ns()); });
    }
  } else if (o.rate > 0) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(begin) ^ static_cast<std::uint64_t>(getpid()));
    for (auto& c : conns)
      if (c->sender_idx >= 0) {
        c->next_due = begin + static_cast<std::int64_t>(
                                  rng() % static_cast<std::uint64_t>(
                                              std::max<std::int64_t>(1, g->sender_interval_ns)));
        c->w->senders.push_back(c.get());
      }
    for (auto& w : g->workers) asio::co_spawn(w->io, rate_ticker(*w), asio::detached);
  } else {
    for (auto& c : conns)
      if (c->sender_idx >= 0) {
        auto* cp = c.get();
        asio::post(cp->w->io, [cp] {
          cp->sending = true;
          pump(*cp);
        });
      }
  }
  if (o.acks_ms > 0 || o.typing_ms > 0)
    for (auto& w : g->workers) asio::co_spawn(w->io, chatter_ticker(*w), asio::detached);
  progress("sending: " + fmt1(o.warmup_s) + " s warm-up, then " + fmt1(o.duration_s) +
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
      progress("t=" + std::to_string(sec) + "s  acked/s " + fmt0(R.per_sec_sends.back()) +
               "  delivered/s " + fmt0(R.per_sec_deliveries.back()));
    }
    prev = cur;
    prev_t = now;
    if (tick >= t_end) break;
  }
  R.t_end_actual = now_ns();
  R.tool1 = self_cpu();

  // Drain: every send answered, every receiver at its room's last acknowledged seq.
  auto drain_deadline = t_end + static_cast<std::int64_t>(o.drain_timeout_s * 1e9);
  for (;;) {
    bool all = true;
    for (auto& rp : g->rooms) {
      std::int64_t top = 0, acked = 0;
      for (auto* c : rp->members) {
        if (c->sender_idx < 0) continue;
        all = all && c->inflight.get() == 0;
        top = std::max(top, c->max_ack_seq.get());
        acked += c->acked.get();
      }
      if (nats()) top = acked;  // counted seqs: everyone must have every message
      for (auto* c : rp->members) all = all && (c->last_seq.get() >= top || c->reader_done.get());
    }
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

  // Close every connection (close frame, 2 s bound).
  g->stopping.store(true);
  auto tg = std::make_shared<task_group>();
  for (auto& cp : conns) {
    auto* c = cp.get();
    spawn(c->w->io, tg, [c]() -> asio::awaitable<void> { co_await c->ws->close(2000); });
  }
  try {
    co_await wait_all(tg, static_cast<int>(conns.size()), "close", 5);
  } catch (const std::exception&) {
  }
}

// ---------------------------------------------------------------------------------------
// Summaries: one JSON object per process, merged by the parent, printed by report().

// How each field merges across processes.
const char* kSumKeys[] = {"acks_w",       "deliv_w",        "sent",
                          "total_acked",  "send_errors",    "dup_acks",
                          "unacked",      "lost_own",       "phantom_own",
                          "gaps",         "gap_missing",    "dups",
                          "reordered",    "skipped_excess", "first_mismatch",
                          "early",        "seq_mismatch",   "double_reply",
                          "parse_errors", "unexpected",     "notices",
                          "other_conv",   "foreign",        "ours",
                          "events",       "behind",         "lost",
                          "extra",        "closed",         "sync_inconsistent",
                          "rounds_w",     "missed_sends",   "conns",
                          "rooms",        "tool_cpu_s",     "tool_cpu_total_s",
                          "chatter_sent", "chatter_errors"};
const char* kMaxKeys[] = {"setup_users_s", "setup_ws_s", "drain_s", "window_s"};
const char* kHistKeys[] = {"ack_hist", "deliv_hist", "round_hist"};
const char* kStrKeys[] = {"first_error", "first_unexpected", "first_parse", "first_close",
                          "first_chatter_error"};

json::object collect(const local_results& R) {
  histogram ack, deliv, round;
  std::int64_t acks_w = 0, deliv_w = 0, missed = 0;
  for (auto& w : g->workers) {
    ack.merge(w->ack_lat);
    deliv.merge(w->deliv_lat);
    round.merge(w->round_lat);
    acks_w += w->acks_in_window;
    deliv_w += w->deliveries_in_window;
    missed += w->missed_sends;
  }
  std::int64_t sent = 0, total_acked = 0, send_errors = 0, dup_acks = 0, unacked = 0, lost_own = 0,
               phantom_own = 0, gaps = 0, gap_missing = 0, dups = 0, reordered = 0,
               skipped_excess = 0, first_mismatch = 0, early = 0, seq_mismatch = 0,
               double_reply = 0, parse_errors = 0, unexpected = 0, notices = 0, other_conv = 0,
               foreign = 0, ours = 0, events = 0, behind = 0, lost = 0, extra = 0, closed = 0,
               rounds_w = 0, chatter_sent = 0, chatter_errors = 0;
  std::string first_error, first_unexp, first_parse, first_close, first_chatter;
  for (auto& rp : g->rooms) {
    auto& r = *rp;
    rounds_w += r.rounds_in_window;
    std::int64_t room_acked = 0, room_errors = 0, top = 0, room_skipped = 0;
    for (auto* c : r.members) {
      if (c->sender_idx < 0) continue;
      room_acked += c->acked.get();
      room_errors += c->send_errors;
      sent += c->next_n;
      send_errors += c->send_errors;
      dup_acks += c->duplicate_acks;
      unacked += c->inflight.get();
      top = std::max(top, c->max_ack_seq.get());
      if (first_error.empty()) first_error = c->first_error;
      for (std::size_t k = 0; k < c->ack_seq.size(); ++k) {
        if (c->ack_seq[k] > 0 && c->echo_seq[k] == 0) ++lost_own;
        if (c->ack_seq[k] == 0 && c->echo_seq[k] > 0) ++phantom_own;
      }
    }
    total_acked += room_acked;
    if (nats()) top = room_acked;
    for (auto* c : r.members) {
      gaps += c->gaps;
      gap_missing += c->gap_missing;
      dups += c->dups;
      reordered += c->reordered;
      room_skipped += c->skipped;
      first_mismatch += c->first_mismatch;
      early += c->early_events;
      seq_mismatch += c->seq_mismatch;
      double_reply += c->double_reply;
      parse_errors += c->parse_errors;
      unexpected += c->unexpected_replies;
      notices += c->notices;
      chatter_sent += c->chatter_sent;
      chatter_errors += c->chatter_errors;
      if (first_chatter.empty()) first_chatter = c->first_chatter_error;
      other_conv += c->other_conv;
      foreign += c->foreign;
      ours += c->ours;
      events += c->events.get();
      if (c->last_seq.get() < top) behind += top - c->last_seq.get();
      if (c->ours < room_acked) lost += room_acked - c->ours;
      if (c->ours > room_acked) extra += c->ours - room_acked;
      if (c->closed_unexpectedly) {
        ++closed;
        if (first_close.empty()) first_close = c->handle + ": " + c->close_info;
      }
      if (first_parse.empty()) first_parse = c->first_parse_error;
      if (first_unexp.empty()) first_unexp = c->first_unexpected;
    }
    auto allowed = room_errors * static_cast<std::int64_t>(r.members.size());
    if (room_skipped > allowed) skipped_excess += room_skipped - allowed;
  }
  auto arr = [](const std::vector<double>& v) {
    json::array a;
    for (double x : v) a.push_back(x);
    return a;
  };
  return json::object{{"chatter_sent", chatter_sent},
                      {"chatter_errors", chatter_errors},
                      {"first_chatter_error", first_chatter},
                      {"acks_w", acks_w},
                      {"deliv_w", deliv_w},
                      {"sent", sent},
                      {"total_acked", total_acked},
                      {"send_errors", send_errors},
                      {"dup_acks", dup_acks},
                      {"unacked", unacked},
                      {"lost_own", lost_own},
                      {"phantom_own", phantom_own},
                      {"gaps", gaps},
                      {"gap_missing", gap_missing},
                      {"dups", dups},
                      {"reordered", reordered},
                      {"skipped_excess", skipped_excess},
                      {"first_mismatch", first_mismatch},
                      {"early", early},
                      {"seq_mismatch", seq_mismatch},
                      {"double_reply", double_reply},
                      {"parse_errors", parse_errors},
                      {"unexpected", unexpected},
                      {"notices", notices},
                      {"other_conv", other_conv},
                      {"foreign", foreign},
                      {"ours", ours},
                      {"events", events},
                      {"behind", behind},
                      {"lost", lost},
                      {"extra", extra},
                      {"closed", closed},
                      {"sync_inconsistent", R.sync_pos_consistent ? 0 : 1},
                      {"rounds_w", rounds_w},
                      {"missed_sends", missed},
                      {"conns", static_cast<std::int64_t>(g->conns.size())},
                      {"rooms", static_cast<std::int64_t>(g->rooms.size())},
                      {"tool_cpu_s", R.tool1.total() - R.tool0.total()},
                      {"tool_cpu_total_s", R.tool_end.total()},
                      {"setup_users_s", R.setup_users_s},
                      {"setup_ws_s", R.setup_ws_s},
                      {"drain_s", R.drain_s},
                      {"window_s", static_cast<double>(R.t_end_actual - R.t_start_actual) / 1e9},
                      {"drained", R.drained},
                      {"ack_hist", histogram_json(ack)},
                      {"deliv_hist", histogram_json(deliv)},
                      {"round_hist", histogram_json(round)},
                      {"per_sec_sends", arr(R.per_sec_sends)},
                      {"per_sec_deliveries", arr(R.per_sec_deliveries)},
                      {"first_error", first_error},
                      {"first_unexpected", first_unexp},
                      {"first_parse", first_parse},
                      {"first_close", first_close}};
}

void merge_into(json::object& into, const json::object& s) {
  if (into.empty()) {
    into = s;
    return;
  }
  for (auto* k : kSumKeys) into[k] = into[k].to_number<double>() + s.at(k).to_number<double>();
  for (auto* k : kMaxKeys)
    into[k] = std::max(into[k].to_number<double>(), s.at(k).to_number<double>());
  into["drained"] = into["drained"].as_bool() && s.at("drained").as_bool();
  for (auto* k : kHistKeys) {
    histogram h;
    histogram_merge_json(h, into[k].as_object());
    histogram_merge_json(h, s.at(k).as_object());
    into[k] = histogram_json(h);
  }
  for (auto* k : {"per_sec_sends", "per_sec_deliveries"}) {
    auto& a = into[k].as_array();
    const auto& b = s.at(k).as_array();
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
      a[i] = a[i].to_number<double>() + b[i].to_number<double>();
    if (b.size() < a.size()) a.resize(b.size());
  }
  for (auto* k : kStrKeys)
    if (into[k].as_string().empty()) into[k] = s.at(k);
}

// Measured by the process that owns the clock of the window (the parent with --procs).
struct outside_view {
  std::optional<cpu_sample> srv0, srv1;
  std::optional<machine_sample> mach0, mach1;
  double window_real = 0;
};

struct pct {
  double median = 0, min = 0, max = 0;
};

pct spread(const json::array& a) {
  std::vector<double> v;
  for (auto& x : a) v.push_back(x.to_number<double>());
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

int report(const json::object& s, const outside_view& X) {
  auto& o = g->opt;
  auto I = [&](const char* k) { return static_cast<std::int64_t>(s.at(k).to_number<double>()); };
  auto D = [&](const char* k) { return s.at(k).to_number<double>(); };
  auto S = [&](const char* k) { return std::string(s.at(k).as_string()); };
  histogram ack, deliv, round;
  histogram_merge_json(ack, s.at("ack_hist").as_object());
  histogram_merge_json(deliv, s.at("deliv_hist").as_object());
  histogram_merge_json(round, s.at("round_hist").as_object());
  double dur = o.duration_s;
  double sends_ps = static_cast<double>(I("acks_w")) / dur;
  double deliv_ps = static_cast<double>(I("deliv_w")) / dur;
  std::int64_t violations = I("gaps") + I("dups") + I("reordered") + I("first_mismatch") +
                            I("early") + I("seq_mismatch") + I("double_reply") + I("dup_acks") +
                            I("lost") + I("extra") + I("behind") + I("lost_own") +
                            I("phantom_own") + I("parse_errors") + I("skipped_excess") +
                            I("sync_inconsistent");
  bool drained = s.at("drained").as_bool();
  bool ok = violations == 0 && I("send_errors") == 0 && I("unacked") == 0 && I("closed") == 0 &&
            drained && I("unexpected") == 0 && I("chatter_errors") == 0;
  double window_real = X.window_real;
  double tool_cpu = D("tool_cpu_s");
  double tool_pct = 100.0 * tool_cpu / window_real;
  std::optional<double> srv_cpu;
  if (X.srv0 && X.srv1) srv_cpu = X.srv1->total() - X.srv0->total();
  auto ps = spread(s.at("per_sec_sends").as_array());
  auto pd = spread(s.at("per_sec_deliveries").as_array());
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  const char* target = o.target == options::target_kind::parley     ? "parley"
                       : o.target == options::target_kind::peer     ? "peer"
                       : o.target == options::target_kind::socketio ? "socketio"
                                                                    : "nats";
  std::string mode =
      o.rounds ? "rounds (every member sends once per round)"
      : o.rate > 0
          ? "open loop at " + fmt0(o.rate) + " publishes/s, window cap " + std::to_string(o.window)
          : std::to_string(o.senders) + " senders per room x window " + std::to_string(o.window);
  std::printf(
      "parley-bench fanout: %d room(s) x %d members, %s, %.1f s measured after %.1f s warm-up, "
      "%d process(es) x %d thread(s), %d-byte texts%s\n",
      o.rooms, o.members, mode.c_str(), o.duration_s, o.warmup_s, o.procs, o.threads, o.text_bytes,
      o.deflate ? ", permessage-deflate" : "");
  std::printf("setup: target %s; users in %.2f s; %" PRId64 " WebSockets ready in %.2f s\n", target,
              D("setup_users_s"), I("conns"), D("setup_ws_s"));
  std::printf("acked sends:      %10" PRId64
              " in %.1f s = %9.0f /s   (per second: median %.0f, min %.0f, max %.0f)\n",
              I("acks_w"), dur, sends_ps, ps.median, ps.min, ps.max);
  std::printf("delivered events: %10" PRId64
              " in %.1f s = %9.0f /s   (per second: median %.0f, min %.0f, max %.0f)\n",
              I("deliv_w"), dur, deliv_ps, pd.median, pd.min, pd.max);
  std::printf(
      "send->ack      latency: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms  (n=%" PRIu64
      ")\n",
      ms(ack.quantile(0.5)), ms(ack.quantile(0.99)), ms(ack.max()), ack.mean() / 1e6, ack.count());
  std::printf(
      "send->delivery latency: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms  (n=%" PRIu64
      ")\n",
      ms(deliv.quantile(0.5)), ms(deliv.quantile(0.99)), ms(deliv.max()), deliv.mean() / 1e6,
      deliv.count());
  if (o.rounds)
    std::printf("rounds: %" PRId64 " in the window; round time p50 %.2f ms  p99 %.2f ms\n",
                I("rounds_w"), ms(round.quantile(0.5)), ms(round.quantile(0.99)));
  if (o.rate > 0)
    std::printf("open loop: %" PRId64 " scheduled sends found the window full (rate not held)\n",
                I("missed_sends"));
  std::printf("generator CPU during the window: %.2f s in %.2f s = %.0f%% of one core\n", tool_cpu,
              window_real, tool_pct);
  if (srv_cpu)
    std::printf("server CPU during the window (pid %ld): %.2f s = %.0f%% of one core\n",
                o.server_pid, *srv_cpu, 100.0 * *srv_cpu / window_real);
  std::optional<double> other_cpu;
  if (X.mach0 && X.mach1) {
    double busy = X.mach1->busy - X.mach0->busy;
    double avail = busy + (X.mach1->idle - X.mach0->idle) + (X.mach1->steal - X.mach0->steal);
    double steal = X.mach1->steal - X.mach0->steal;
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
              " unanswered; %" PRId64 " events received in total; %s %.3f s after the end\n",
              I("sent"), I("total_acked"), I("send_errors"), I("unacked"), I("events"),
              drained ? "all delivered to every member" : "NOT DRAINED", D("drain_s"));
  std::printf(
      "checks: gaps %" PRId64 " (missing seqs %" PRId64 "), duplicates/out-of-order %" PRId64
      ", per-sender reorder %" PRId64 ", skipped %" PRId64 ", wrong first seq %" PRId64
      ", early %" PRId64 ", ack/event seq mismatch %" PRId64 ", duplicate acks %" PRId64
      ", double replies %" PRId64 ", lost (member x msg) %" PRId64 ", extra %" PRId64
      ", behind %" PRId64 ", own lost %" PRId64 ", own phantom %" PRId64 ", parse errors %" PRId64
      "%s => %s\n",
      I("gaps"), I("gap_missing"), I("dups"), I("reordered"), I("skipped_excess"),
      I("first_mismatch"), I("early"), I("seq_mismatch"), I("dup_acks"), I("double_reply"),
      I("lost"), I("extra"), I("behind"), I("lost_own"), I("phantom_own"), I("parse_errors"),
      I("sync_inconsistent") ? ", inconsistent sync positions" : "",
      violations == 0 ? "0 violations" : (std::to_string(violations) + " VIOLATIONS").c_str());
  if (I("notices") || I("other_conv") || I("foreign"))
    std::printf("other frames: notices %" PRId64 ", other conversations %" PRId64
                ", foreign messages %" PRId64 "\n",
                I("notices"), I("other_conv"), I("foreign"));
  if (I("chatter_sent"))
    std::printf(
        "receipts and typing: %" PRId64
        " requests (acks every %.0f ms, typing every %.0f ms), %" PRId64 " errors%s%s\n",
        I("chatter_sent"), o.acks_ms, o.typing_ms, I("chatter_errors"),
        S("first_chatter_error").empty() ? "" : ", first: ", S("first_chatter_error").c_str());
  if (!S("first_error").empty()) std::printf("first send error: %s\n", S("first_error").c_str());
  if (I("unexpected"))
    std::printf("unexpected replies: %" PRId64 ", first: %s\n", I("unexpected"),
                S("first_unexpected").c_str());
  if (I("closed"))
    std::printf("connections closed by the server: %" PRId64 ", first: %s\n", I("closed"),
                S("first_close").c_str());
  if (!S("first_parse").empty())
    std::printf("first unparseable frame: %s\n", S("first_parse").c_str());
  std::printf("result: %s\n", ok ? "OK" : "FAILED");

  if (o.json_line) {
    json::object j{{"workload", o.workload_name},
                   {"target", target},
                   {"rooms", o.rooms},
                   {"members", o.members},
                   {"senders", o.senders},
                   {"window", o.window},
                   {"rate", o.rate},
                   {"procs", o.procs},
                   {"duration_s", o.duration_s},
                   {"warmup_s", o.warmup_s},
                   {"threads", o.threads},
                   {"text_bytes", o.text_bytes},
                   {"acks_ms", o.acks_ms},
                   {"typing_ms", o.typing_ms},
                   {"deflate", o.deflate},
                   {"chatter_sent", I("chatter_sent")},
                   {"acked_sends", I("acks_w")},
                   {"sends_per_s", sends_ps},
                   {"delivered_events", I("deliv_w")},
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
                   {"rounds", I("rounds_w")},
                   {"round_p50_ms", ms(round.quantile(0.5))},
                   {"round_p99_ms", ms(round.quantile(0.99))},
                   {"missed_sends", I("missed_sends")},
                   {"tool_cpu_s", tool_cpu},
                   {"tool_cpu_pct", tool_pct},
                   {"window_s", window_real},
                   {"setup_users_s", D("setup_users_s")},
                   {"setup_ws_s", D("setup_ws_s")},
                   {"sent_total", I("sent")},
                   {"acked_total", I("total_acked")},
                   {"send_errors", I("send_errors")},
                   {"unanswered", I("unacked")},
                   {"drained", drained},
                   {"drain_s", D("drain_s")},
                   {"violations", violations},
                   {"gaps", I("gaps")},
                   {"duplicates", I("dups")},
                   {"lost", I("lost")},
                   {"unexpected_closes", I("closed")},
                   {"unexpected_frames", I("unexpected")},
                   {"chatter_errors", I("chatter_errors")},
                   {"ok", ok}};
    if (srv_cpu) {
      j["server_cpu_s"] = *srv_cpu;
      j["server_cpu_pct"] = 100.0 * *srv_cpu / window_real;
    }
    if (other_cpu) j["other_cpu_s"] = *other_cpu;
    // Why a run failed, for the report: the first error reply, close and unexpected frame.
    for (const char* k : {"first_error", "first_close", "first_unexpected"})
      if (!S(k).empty()) j[k] = S(k);
    std::printf("%s\n", json::serialize(j).c_str());
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// Builds this process's rooms and connections: rooms r with r % procs == child (all rooms
// without --procs), members numbered globally so handles and peer user ids never collide.
void build(run_state& st) {
  auto& o = st.opt;
  int part = o.child < 0 ? 0 : o.child;
  int parts = o.child < 0 ? 1 : o.procs;
  for (int i = 0; i < o.threads; ++i) st.workers.push_back(std::make_unique<worker>());
  std::int64_t senders_total = static_cast<std::int64_t>(o.rooms) * o.senders;
  if (o.rate > 0)
    st.sender_interval_ns =
        static_cast<std::int64_t>(1e9 * static_cast<double>(senders_total) / o.rate);
  for (int r = part; r < o.rooms; r += parts) {
    auto room = std::make_unique<room_state>();
    room->global = r;
    room->conv = o.peer_conv + r;  // peers; Parley assigns its own at conv.create
    for (int m = 0; m < o.members; ++m) {
      auto c = std::make_unique<conn>();
      c->idx = static_cast<int>(st.conns.size());
      c->member = m;
      c->room = room.get();
      c->uid = static_cast<std::int64_t>(r) * o.members + m + 1;  // peers
      c->handle = "user" + std::to_string(c->uid);
      auto widx = o.rounds ? st.rooms.size() : static_cast<std::size_t>(c->idx);
      c->w = st.workers[widx % st.workers.size()].get();
      c->last_seq.set(-1);
      c->last_n.assign(static_cast<std::size_t>(o.senders), -1);
      if (m < o.senders) c->sender_idx = m;
      room->members.push_back(c.get());
      st.conns.push_back(std::move(c));
    }
    st.rooms.push_back(std::move(room));
  }
}

// Runs the io threads around `body` and returns when it is done.
template <class Body>
std::string run_io(run_state& st, Body body) {
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : st.workers) guards.push_back(asio::make_work_guard(w->io));
  std::vector<std::thread> threads;
  for (auto& w : st.workers) threads.emplace_back([&io = w->io] { io.run(); });
  std::string fatal;
  std::promise<void> done;
  asio::co_spawn(st.workers[0]->io, body(), [&](std::exception_ptr ep) {
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        fatal = e.what();
      }
    }
    done.set_value();
  });
  done.get_future().wait();
  st.stopping.store(true);
  guards.clear();
  for (auto& w : st.workers) w->io.stop();
  for (auto& t : threads) t.join();
  return fatal;
}

// The parent of --procs children: starts them, gives the common start, measures the
// server and the machine over the window, merges their numbers.
int run_parent(run_state& st, int argc, char** argv) {
  auto& o = st.opt;
  auto kids = start_children(argc, argv, o.procs);
  json::object merged;
  outside_view X;
  std::string fatal;
  try {
    for (auto& k : kids) {
      auto l = child_read_line(k);
      if (l != "ready") throw std::runtime_error("generator process: " + l);
    }
    progress(std::to_string(o.procs) + " generator processes ready");
    auto begin = now_ns() + 50'000'000;
    for (auto& k : kids) child_write_line(k, "go " + std::to_string(begin));
    auto t_start = begin + static_cast<std::int64_t>(o.warmup_s * 1e9);
    auto t_end = t_start + static_cast<std::int64_t>(o.duration_s * 1e9);
    auto sleep_to = [](std::int64_t t) {
      auto d = t - now_ns();
      if (d > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(d));
    };
    sleep_to(t_start);
    auto a = now_ns();
    X.srv0 = proc_cpu(o.server_pid);
    X.mach0 = machine_cpu();
    sleep_to(t_end);
    X.window_real = static_cast<double>(now_ns() - a) / 1e9;
    X.srv1 = proc_cpu(o.server_pid);
    X.mach1 = machine_cpu();
    for (auto& k : kids) {
      auto l = child_read_line(k);
      if (l.rfind("result ", 0) != 0) throw std::runtime_error("generator process: " + l);
      merge_into(merged, json::parse(l.substr(7)).as_object());
    }
  } catch (const std::exception& e) {
    fatal = e.what();
    for (auto& k : kids) kill(k.pid, SIGTERM);
  }
  reap_children(kids);
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench: failed: %s\n", fatal.c_str());
    return 2;
  }
  // The generator's CPU: the children's, as they reported it.
  return report(merged, X);
}

}  // namespace

int fanout_main(int argc, char** argv) {
  run_state st;
  g = &st;
  st.opt = parse_options(argc, argv);
  st.tag = random_tag();
  st.padding.assign(16000, 'x');
  raise_fd_limit();
  if (st.opt.procs > 1 && st.opt.child < 0) return run_parent(st, argc, argv);
  build(st);

  local_results R;
  outside_view X;
  auto fatal = run_io(st, [&]() -> asio::awaitable<void> {
    co_await setup(R);
    std::int64_t begin = 0;
    if (st.opt.child >= 0) {
      // Blocking read of the start signal on this io thread: nothing runs here yet.
      begin = child_ready_and_wait();
    } else {
      begin = now_ns() + 10'000'000;
    }
    auto t_start = begin + static_cast<std::int64_t>(st.opt.warmup_s * 1e9);
    if (st.opt.child < 0) {
      // Sample the server and the machine at the window's edges.
      asio::co_spawn(
          st.workers[0]->io,
          [&X, t_start]() -> asio::awaitable<void> {
            co_await sleep_until_ns(t_start);
            X.srv0 = proc_cpu(g->opt.server_pid);
            X.mach0 = machine_cpu();
            co_await sleep_until_ns(g->t_end.load());
            X.srv1 = proc_cpu(g->opt.server_pid);
            X.mach1 = machine_cpu();
          },
          asio::detached);
    }
    co_await measure(R, begin);
  });
  if (!fatal.empty()) {
    if (st.opt.child >= 0) child_send_error(fatal);
    std::fprintf(stderr, "parley-bench: failed: %s\n", fatal.c_str());
    return 2;
  }
  auto summary = collect(R);
  int rc = 0;
  if (st.opt.child >= 0) {
    child_send_result(summary);
  } else {
    X.window_real = static_cast<double>(R.t_end_actual - R.t_start_actual) / 1e9;
    rc = report(summary, X);
  }
  for (auto& c : st.conns) c->ws.reset();  // connections go before their io_contexts
  st.conns.clear();
  return rc;
}

}  // namespace bench
