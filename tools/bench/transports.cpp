// parley-bench transports (W3 over each transport): group fan-out where every member
// receives over WebSocket, Server-Sent Events or long polling.
//
// R rooms of M members; each room's owner sends over its own WebSocket, closed loop with W
// unacknowledged, for the whole run; every member receives the room's events over the
// chosen transport from the position after the room was created. Reports deliveries/s in
// the measured window and checks that every receiver got every message once, in order.
// Run it once per transport to compare (bench/all.sh does). Parley only.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <tuple>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const char* kUsage = R"(usage: parley-bench transports --url HOST:PORT [options]

W3 over a transport: R rooms of M members, each room's owner sending closed loop over a
WebSocket, every member receiving over the chosen transport.

  --url HOST:PORT         Parley server address                                   [required]
  --transport T           ws, sse or poll                                         [ws]
  --rooms R               rooms                                                   [10]
  --members M             members per room                                        [10]
  --window W              unacknowledged sends per room                           [32]
  --duration S            measured seconds                                        [3]
  --warmup S              seconds of sending before measuring                     [1]
  --server-pid PID        also report the server's CPU use
  --json                  one JSON line
  --quiet                 no progress lines
)";

struct options : common_options {
  std::string transport = "ws";
  int rooms = 10, members = 10, window = 32;
  double duration_s = 3, warmup_s = 1;
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--transport") {
      o.transport = ar.value();
      if (o.transport != "ws" && o.transport != "sse" && o.transport != "poll")
        ar.error("--transport is ws, sse or poll");
    } else if (a == "--rooms")
      o.rooms = ar.integer();
    else if (a == "--members")
      o.members = ar.integer();
    else if (a == "--window")
      o.window = ar.integer();
    else if (a == "--duration")
      o.duration_s = ar.number();
    else if (a == "--warmup")
      o.warmup_s = ar.number();
    else if (a == "--target") {
      if (ar.value() != "parley") ar.error("--target: this workload is Parley only");
    } else
      ar.unknown();
  }
  ar.require_url(o.ep);
  if (o.rooms < 1 || o.members < 2 || o.window < 1 || o.duration_s <= 0)
    ar.error("--rooms >= 1, --members >= 2, --window >= 1, --duration > 0");
  return o;
}

// One receiver: the last seq it got of its room, and what went wrong.
struct receiver {
  std::int64_t conv = 0;
  std::string token;
  std::atomic<std::int64_t> last{1};  // the room's conversation.created is seq 1
  std::atomic<std::int64_t> received{0};
  std::int64_t gaps = 0, dups = 0;
  std::int64_t reconnects = 0;  // long polling: keep-alive connections the server closed
  std::string error;
};

// Counts one event of the receiver's room by its seq.
void take(receiver& r, std::string_view frame) {
  auto ev = frame.find("\"ev\":");
  if (ev == std::string_view::npos) return;
  auto c = frame.find("\"conv\":", ev);
  auto s = frame.find("\"seq\":", ev);
  if (c == std::string_view::npos || s == std::string_view::npos) return;
  auto conv = std::strtoll(frame.data() + c + 7, nullptr, 10);
  auto seq = std::strtoll(frame.data() + s + 6, nullptr, 10);
  if (conv != r.conv) return;
  auto last = r.last.load(std::memory_order_relaxed);
  if (seq <= last) {
    ++r.dups;
    return;
  }
  if (seq != last + 1) ++r.gaps;
  r.last.store(seq, std::memory_order_relaxed);
  r.received.fetch_add(1, std::memory_order_relaxed);
}

std::string cursor_of(const receiver& r) {
  return std::to_string(r.conv) + "." + std::to_string(r.last.load());
}

asio::awaitable<void> receive_ws(const endpoint& ep, receiver& r, std::size_t idx,
                                 const std::atomic<bool>& stop) {
  ws_stream ws(co_await asio::this_coro::executor);
  co_await ws_connect_auth(ws, ep, idx, r.token);
  json::object since{{std::to_string(r.conv), r.last.load()}};
  ws.send(json::serialize(json::object{{"id", "s"}, {"op", "sync"}, {"since", since}}));
  while (!stop.load()) {
    auto m = co_await ws.read();
    std::size_t i = 0;
    while (i < m.size()) {
      auto j = m.find('\n', i);
      if (j == std::string_view::npos) j = m.size();
      take(r, m.substr(i, j - i));
      i = j + 1;
    }
  }
}

asio::awaitable<void> receive_sse(const endpoint& ep, receiver& r, const std::atomic<bool>& stop) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  tcp::resolver res(ex);
  auto eps = co_await res.async_resolve(ep.host, std::to_string(ep.port), asio::use_awaitable);
  co_await asio::async_connect(s, eps, asio::use_awaitable);
  s.set_option(tcp::no_delay(true));
  std::string req = "GET /v1/sse?cursor=" + cursor_of(r) + " HTTP/1.1\r\nHost: " + ep.host +
                    "\r\nAuthorization: Bearer " + r.token + "\r\n\r\n";
  co_await asio::async_write(s, asio::buffer(req), asio::use_awaitable);
  std::string buf;
  std::size_t scanned = 0;
  bool head = true;
  std::vector<char> chunk(65536);
  while (!stop.load()) {
    auto n = co_await s.async_read_some(asio::buffer(chunk), asio::use_awaitable);
    buf.append(chunk.data(), n);
    if (head) {
      auto e = buf.find("\r\n\r\n");
      if (e == std::string::npos) continue;
      if (buf.compare(0, 12, "HTTP/1.1 200") != 0)
        throw std::runtime_error("sse: " + buf.substr(0, buf.find("\r\n")));
      buf.erase(0, e + 4);
      head = false;
      scanned = 0;
    }
    std::size_t start = 0;
    for (;;) {
      auto e = buf.find("\n\n", std::max(scanned, start));
      if (e == std::string::npos) break;
      std::string_view block(buf.data() + start, e - start);
      if (auto d = block.find("data: "); d != std::string_view::npos) take(r, block.substr(d + 6));
      start = e + 2;
    }
    buf.erase(0, start);
    scanned = buf.size() > 0 ? buf.size() - 1 : 0;
  }
}

// As a long-polling client does: one keep-alive connection, and when the server has closed
// it between two polls (its idle timeout, websocket.handshake_timeout_ms, while this process
// was slow to ask again), a new connection and the same poll again, from the same cursor.
asio::awaitable<void> receive_poll(const endpoint& ep, receiver& r, const std::atomic<bool>& stop) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver res(ex);
  auto eps = co_await res.async_resolve(ep.host, std::to_string(ep.port), asio::use_awaitable);
  std::optional<beast::tcp_stream> s;
  beast::flat_buffer b;
  while (!stop.load()) {
    if (!s) {
      s.emplace(ex);
      co_await s->async_connect(eps, asio::use_awaitable);
      b.clear();
    }
    http::request<http::empty_body> req{http::verb::get,
                                        "/v1/poll?timeout_ms=1000&cursor=" + cursor_of(r), 11};
    req.set(http::field::host, ep.host);
    req.set(http::field::authorization, "Bearer " + r.token);
    http::response_parser<http::string_body> p;
    p.body_limit(64 << 20);
    auto [wec, wn] = co_await http::async_write(*s, req, asio::as_tuple(asio::use_awaitable));
    beast::error_code rec = wec;
    if (!wec)
      std::tie(rec, std::ignore) =
          co_await http::async_read(*s, b, p, asio::as_tuple(asio::use_awaitable));
    // Closed before any byte of an answer: the poll was not served; ask again.
    if ((rec == http::error::end_of_stream || rec == asio::error::connection_reset ||
         rec == asio::error::broken_pipe) &&
        !p.got_some()) {
      s.reset();
      ++r.reconnects;
      continue;
    }
    if (rec) throw beast::system_error(rec);
    if (p.get().result_int() != 200) throw std::runtime_error("poll: " + p.get().body());
    auto v = json::parse(p.get().body()).as_object();
    for (const auto& f : v.at("frames").as_array()) take(r, json::serialize(f));
  }
}

}  // namespace

int transports_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  io_pool pool(1);
  std::string tag = random_tag();
  std::vector<std::unique_ptr<receiver>> rs;
  std::vector<std::int64_t> convs;
  std::vector<std::shared_ptr<ws_stream>> senders;
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> sent{0};
  auto progress = [&](const std::string& s) {
    if (!o.quiet) std::fprintf(stderr, "parley-bench transports: %s\n", s.c_str());
  };
  double deliveries_per_s = 0, drain_s = 0;
  std::optional<cpu_sample> c0, c1, g0, g1;
  std::int64_t final_total = 0;
  bool drained = false;
  try {
    pool.block([&]() -> asio::awaitable<void> {
      auto users = co_await register_users(o.ep, tag, 0, o.rooms * o.members, 8);
      for (int r = 0; r < o.rooms; ++r) {
        auto ws = std::make_shared<ws_stream>(pool.io(0).get_executor());
        auto& owner = users[static_cast<std::size_t>(r * o.members)];
        co_await ws_connect_auth(*ws, o.ep, 0, owner.token);
        std::vector<std::string> hs;
        for (int m = 1; m < o.members; ++m)
          hs.push_back(users[static_cast<std::size_t>(r * o.members + m)].handle);
        auto conv = co_await create_group(*ws, hs, "transports " + std::to_string(r));
        convs.push_back(conv);
        senders.push_back(ws);
        for (int m = 0; m < o.members; ++m) {
          auto rc = std::make_unique<receiver>();
          rc->conv = conv;
          rc->token = users[static_cast<std::size_t>(r * o.members + m)].token;
          rs.push_back(std::move(rc));
        }
      }
    });
    progress(std::to_string(rs.size()) + " receivers over " + o.transport);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      auto* r = rs[i].get();
      asio::co_spawn(
          pool.io(0),
          [&, r, i]() -> asio::awaitable<void> {
            if (o.transport == "ws")
              co_await receive_ws(o.ep, *r, i, stop);
            else if (o.transport == "sse")
              co_await receive_sse(o.ep, *r, stop);
            else
              co_await receive_poll(o.ep, *r, stop);
          },
          [r, &stop](std::exception_ptr e) {
            if (!e || stop.load()) return;
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& x) {
              r->error = x.what();
            }
          });
    }
    auto total = [&] {
      std::int64_t t = 0;
      for (auto& r : rs) t += r->received.load();
      return t;
    };
    const auto t0 = now_ns();
    const auto t_start = t0 + static_cast<std::int64_t>(o.warmup_s * 1e9);
    const auto t_end = t_start + static_cast<std::int64_t>(o.duration_s * 1e9);
    for (std::size_t k = 0; k < senders.size(); ++k)
      asio::co_spawn(
          pool.io(0),
          [&, k]() -> asio::awaitable<void> {
            for (int batch = 0; now_ns() < t_end; ++batch) {
              co_await post_messages(*senders[k], convs[k], 64, o.window,
                                     tag + "-r" + std::to_string(k) + "-" + std::to_string(batch));
              sent.fetch_add(64);
            }
          },
          asio::detached);
    std::int64_t at_start = 0, at_end = 0;
    pool.block([&]() -> asio::awaitable<void> {
      co_await sleep_until_ns(t_start);
      at_start = total();
      c0 = proc_cpu(o.server_pid);
      g0 = self_cpu();
      co_await sleep_until_ns(t_end);
      at_end = total();
      c1 = proc_cpu(o.server_pid);
      g1 = self_cpu();
    });
    deliveries_per_s = static_cast<double>(at_end - at_start) / o.duration_s;
    // Let the senders finish their batch, then wait for every receiver to have it all.
    auto drain_start = now_ns();
    pool.block([&]() -> asio::awaitable<void> {
      co_await sleep_ms(300);
      for (int i = 0; i < 300; ++i) {
        final_total = total();
        if (final_total == sent.load() * o.members) {
          drained = true;
          break;
        }
        co_await sleep_ms(100);
      }
    });
    drain_s = static_cast<double>(now_ns() - drain_start) / 1e9;
    stop.store(true);
    for (auto& s : senders) s->abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley-bench transports: %s\n", e.what());
    return 1;
  }
  std::int64_t gaps = 0, dups = 0, reconnects = 0;
  std::string first_error;
  for (auto& r : rs) {
    gaps += r->gaps;
    dups += r->dups;
    reconnects += r->reconnects;
    if (first_error.empty()) first_error = r->error;
  }
  bool ok = drained && gaps == 0 && dups == 0 && first_error.empty();
  std::optional<double> srv_cpu;
  if (c0 && c1) srv_cpu = 100.0 * (c1->total() - c0->total()) / o.duration_s;
  std::printf(
      "transport %s: %d rooms x %d members: %.0f deliveries/s%s\n", o.transport.c_str(), o.rooms,
      o.members, deliveries_per_s,
      srv_cpu ? (", server CPU " + std::to_string(static_cast<int>(*srv_cpu)) + "%").c_str() : "");
  const double gen_cpu = g0 && g1 ? 100.0 * (g1->total() - g0->total()) / o.duration_s : 0.0;
  std::printf("generator CPU during the window: %.0f%% of one core\n", gen_cpu);
  std::printf("whole run: %" PRId64 " sent, %" PRId64 " of %" PRId64 " deliveries, gaps %" PRId64
              ", duplicates %" PRId64 ", reconnects %" PRId64 "%s%s\n",
              sent.load(), final_total, sent.load() * o.members, gaps, dups, reconnects,
              first_error.empty() ? "" : ", first error: ", first_error.c_str());
  std::printf("result: %s\n", ok ? "OK" : "FAILED");
  if (o.json_line) {
    json::object j{{"workload", "w3_transports"}, {"target", "parley"},
                   {"transport", o.transport},    {"rooms", o.rooms},
                   {"members", o.members},        {"deliveries_per_s", deliveries_per_s},
                   {"drain_s", drain_s},          {"gaps", gaps},
                   {"duplicates", dups},          {"ok", ok}};
    if (srv_cpu) j["server_cpu_pct"] = *srv_cpu;
    j["tool_cpu_pct"] = gen_cpu;  // all.sh lists runs above 90% as generator-limited
    j["reconnects"] = reconnects;
    std::printf("%s\n", json::serialize(j).c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace bench
