// parley-bench rtt (W2): one-to-one round trips at fixed rates (open loop).
//
// P pairs of users, each pair in its own conversation (Parley: a direct conversation;
// peers: a room of two). User a of every pair sends on a fixed schedule (rate R/P); user b
// answers every message it receives from a with a message carrying the same stamp; a
// records now - scheduled time when the answer arrives. Because the clock starts at the
// scheduled time, a server that falls behind shows it as latency (no coordinated
// omission). Each rate in --rates runs for a warm-up and a measured window; every round
// trip started must complete (lost ones fail the run). Prints p50/p99/max per rate.
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cstdio>

#include "common.hpp"
#include "frames.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

using asio::use_awaitable;

const char* kUsage = R"(usage: parley-bench rtt --url HOST:PORT [options]

W2: one-to-one round trip latency at fixed request rates (open loop).

  --url HOST:PORT         server address                                          [required]
  --pairs P               pairs of users, each pair in its own conversation       [50]
  --rates LIST            round trips per second over all pairs, comma-separated  [1000,4000]
  --duration S            measured seconds per rate                               [5]
  --warmup S              seconds per rate before measuring                       [1]
  --target T              parley | peer | socketio                                [parley]
  --conv C                first room id for peers                                 [100000]
  --server-pid PID        also report the server's CPU use per rate
  --json                  one JSON line per rate
  --quiet                 no progress lines
)";

struct options : common_options {
  int pairs = 50;
  std::vector<double> rates{1000, 4000};
  double duration_s = 5, warmup_s = 1;
  std::string target = "parley";
  std::int64_t peer_conv = 100000;
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--pairs")
      o.pairs = ar.integer();
    else if (a == "--rates") {
      o.rates.clear();
      for (const auto& item : ar.list()) {
        char* end = nullptr;
        double r = std::strtod(item.c_str(), &end);
        if (*end != '\0' || r <= 0) ar.error("--rates takes positive numbers");
        o.rates.push_back(r);
      }
    } else if (a == "--duration")
      o.duration_s = ar.number();
    else if (a == "--warmup")
      o.warmup_s = ar.number();
    else if (a == "--target")
      o.target = ar.value();
    else if (a == "--conv")
      o.peer_conv = ar.integer();
    else
      ar.unknown();
  }
  ar.require_url(o.ep);
  ar.require_target(o.target);
  if (o.pairs < 1 || o.pairs > 5000) ar.error("--pairs is 1..5000");
  if (o.duration_s <= 0) ar.error("--duration must be > 0");
  return o;
}

struct end {
  std::shared_ptr<ws_stream> ws;
  std::int64_t uid = 0, peer_uid = 0, conv = 0;
  bool is_a = false;
  std::int64_t next_due = 0, sent = 0, answered = 0, errors = 0;
  std::int64_t n = 0;  // request ids
};

struct state {
  const options* o = nullptr;
  std::vector<end> ends;
  histogram lat;
  std::int64_t t_start = 0, t_end = 0, in_window = 0, late = 0;
  std::string tag = random_tag();
};

void send_text(state& st, end& e, std::int64_t stamp) {
  std::string f = "{\"id\":" + std::to_string(e.n) +
                  ",\"op\":\"send\",\"conv\":" + std::to_string(e.conv) + ",\"client_msg_id\":\"" +
                  st.tag + "-" + std::to_string(e.uid) + "-" + std::to_string(e.n) +
                  "\",\"text\":\"" + std::to_string(stamp) + " rtt\"}";
  ++e.n;
  if (st.o->target == "socketio") f = "42[\"m\"," + f + "]";
  e.ws->send(std::move(f));
}

void on_frame(state& st, end& e, std::string_view f) {
  ev_view v;
  bool ok = fast_event(f, v);
  if (!ok) {
    boost::system::error_code ec;
    auto j = json::parse(json::string_view(f.data(), f.size()), ec);
    if (ec || !j.is_object()) return;
    auto& obj = j.as_object();
    if (auto* r = obj.if_contains("error")) {
      (void)r;
      ++e.errors;
      return;
    }
    auto* ev = obj.if_contains("ev");
    if (!ev || !json_event(*ev, v)) return;
  }
  if (v.type != "message.created" || v.sender != e.peer_uid || v.sent_ns <= 0) return;
  if (!e.is_a) return send_text(st, e, v.sent_ns);  // b answers with a's stamp
  ++e.answered;
  auto now = now_ns();
  if (v.sent_ns >= st.t_start && v.sent_ns < st.t_end) {
    st.lat.record(now - v.sent_ns);
    ++st.in_window;
  }
}

asio::awaitable<void> reader(state& st, end& e) {
  try {
    for (;;) {
      std::string_view m = co_await e.ws->read();
      if (st.o->target == "socketio") {
        if (m == "2") {
          e.ws->send("3");
        } else if (m.starts_with("42[\"m\",") && m.ends_with("]")) {
          on_frame(st, e, m.substr(7, m.size() - 8));
        }
        continue;
      }
      std::size_t i = 0;
      while (i < m.size()) {
        auto j = m.find('\n', i);
        if (j == std::string_view::npos) j = m.size();
        if (j > i) on_frame(st, e, m.substr(i, j - i));
        i = j + 1;
      }
    }
  } catch (const std::exception&) {
  }
}

}  // namespace

int rtt_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  raise_fd_limit();
  io_pool pool(1);
  state st;
  st.o = &o;
  st.ends.resize(static_cast<std::size_t>(2 * o.pairs));
  std::vector<json::object> out;
  std::string fatal;
  bool all_ok = true;
  try {
    pool.block([&]() -> asio::awaitable<void> {
      auto ex = pool.io(0).get_executor();
      std::vector<bench_user> us;
      if (o.target == "parley") us = co_await register_users(o.ep, st.tag, 0, 2 * o.pairs, 16);
      for (int p = 0; p < o.pairs; ++p) {
        auto& a = st.ends[static_cast<std::size_t>(2 * p)];
        auto& b = st.ends[static_cast<std::size_t>(2 * p + 1)];
        a.is_a = true;
        for (int k = 0; k < 2; ++k) {
          auto& e = k == 0 ? a : b;
          auto idx = static_cast<std::size_t>(2 * p + k);
          e.ws = std::make_shared<ws_stream>(ex);
          if (o.target == "parley") {
            e.uid = us[idx].uid;
            co_await ws_connect_auth(*e.ws, o.ep, idx, us[idx].token);
          } else {
            e.uid = static_cast<std::int64_t>(idx) + 1;
            e.conv = o.peer_conv + p;
            co_await connect_peer(*e.ws, o.ep, o.target == "socketio", idx, e.uid);
          }
        }
        a.peer_uid = b.uid;
        b.peer_uid = a.uid;
        if (o.target == "parley") {
          json::object req;
          req["op"] = "conv.create";
          req["kind"] = "direct";
          req["peer"] = us[static_cast<std::size_t>(2 * p + 1)].handle;
          std::string id = "create";
          auto r = co_await ws_call(*a.ws, std::move(req), id);
          a.conv = b.conv = r["conversation"].as_object()["id"].as_int64();
          for (auto* e : {&a, &b}) {
            json::object s;
            s["op"] = "sync";
            std::string sid = "sync";
            co_await ws_call(*e->ws, std::move(s), sid);
          }
        } else {
          for (auto* e : {&a, &b}) {
            std::string jid = "join";
            std::string f =
                json::serialize(json::object{{"id", jid}, {"op", "join"}, {"conv", e->conv}});
            if (o.target == "socketio") f = "42[\"m\"," + f + "]";
            e->ws->send(std::move(f));
            // The join reply arrives before any event of this pair (nothing is sent yet).
            for (bool joined = false; !joined;) {
              std::string_view m = co_await e->ws->read();
              if (m.find("\"id\":\"join\"") != std::string_view::npos) joined = true;
            }
          }
        }
      }
      for (auto& e : st.ends) asio::co_spawn(ex, reader(st, e), asio::detached);
    });
    for (double rate : o.rates) {
      double secs = 0;
      std::optional<cpu_sample> c0, c1;
      std::int64_t sent0 = 0, ans0 = 0, sent1 = 0, ans1 = 0;
      pool.block([&]() -> asio::awaitable<void> {
        st.lat = histogram();
        st.in_window = 0;
        auto begin = now_ns() + 10'000'000;
        st.t_start = begin + static_cast<std::int64_t>(o.warmup_s * 1e9);
        st.t_end = st.t_start + static_cast<std::int64_t>(o.duration_s * 1e9);
        auto interval = static_cast<std::int64_t>(1e9 * o.pairs / rate);
        for (std::size_t i = 0; i < st.ends.size(); i += 2)
          st.ends[i].next_due = begin + static_cast<std::int64_t>(i / 2) * interval / o.pairs;
        for (auto& e : st.ends) {
          sent0 += e.is_a ? e.sent : 0;
          ans0 += e.is_a ? e.answered : 0;
        }
        asio::steady_timer t(co_await asio::this_coro::executor);
        bool sampled = false;
        for (;;) {
          auto now = now_ns();
          if (!sampled && now >= st.t_start) {
            c0 = proc_cpu(o.server_pid);
            sampled = true;
          }
          if (now >= st.t_end) break;
          for (std::size_t i = 0; i < st.ends.size(); i += 2) {
            auto& a = st.ends[i];
            while (a.next_due <= now && a.next_due < st.t_end) {
              send_text(st, a, a.next_due);
              ++a.sent;
              a.next_due += interval;
            }
          }
          t.expires_after(std::chrono::microseconds(500));
          co_await t.async_wait(use_awaitable);
        }
        c1 = proc_cpu(o.server_pid);
        secs = static_cast<double>(now_ns() - st.t_start) / 1e9;
        // Drain: every round trip started comes back (10 s at most).
        auto deadline = now_ns() + 10'000'000'000;
        for (;;) {
          sent1 = ans1 = 0;
          for (auto& e : st.ends) {
            sent1 += e.is_a ? e.sent : 0;
            ans1 += e.is_a ? e.answered : 0;
          }
          if (ans1 >= sent1 || now_ns() > deadline) break;
          co_await sleep_ms(5);
        }
      });
      auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
      std::int64_t lost = (sent1 - sent0) - (ans1 - ans0), errors = 0;
      for (auto& e : st.ends) errors += e.errors;
      bool ok = lost == 0 && errors == 0;
      all_ok = all_ok && ok;
      double achieved = static_cast<double>(st.in_window) / o.duration_s;
      std::printf(
          "parley-bench rtt %s: %.0f/s requested, %.0f/s completed; p50 %.2f ms  p99 %.2f "
          "ms  max %.2f ms; lost %" PRId64 ", errors %" PRId64 " => %s\n",
          o.target.c_str(), rate, achieved, ms(st.lat.quantile(0.5)), ms(st.lat.quantile(0.99)),
          ms(st.lat.max()), lost, errors, ok ? "OK" : "FAILED");
      json::object j{{"workload", "w2_rtt"},
                     {"target", o.target},
                     {"pairs", o.pairs},
                     {"rate", rate},
                     {"achieved_rate", achieved},
                     {"rtt_p50_ms", ms(st.lat.quantile(0.5))},
                     {"rtt_p99_ms", ms(st.lat.quantile(0.99))},
                     {"rtt_max_ms", ms(st.lat.max())},
                     {"lost", lost},
                     {"errors", errors},
                     {"ok", ok}};
      if (c0 && c1) j["server_cpu_pct"] = 100.0 * (c1->total() - c0->total()) / secs;
      out.push_back(std::move(j));
    }
    pool.block([&]() -> asio::awaitable<void> {
      for (auto& e : st.ends) e.ws->abort();
      co_return;
    });
  } catch (const std::exception& e) {
    fatal = e.what();
  }
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench rtt: failed: %s\n", fatal.c_str());
    return 2;
  }
  std::printf("result: %s\n", all_ok ? "OK" : "FAILED");
  if (o.json_line)
    for (auto& j : out) std::printf("%s\n", json::serialize(j).c_str());
  for (auto& e : st.ends) e.ws.reset();
  return all_ok ? 0 : 1;
}

}  // namespace bench
