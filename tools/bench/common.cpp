#include "common.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace bench {

using asio::use_awaitable;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

cpu_sample self_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

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

std::optional<std::int64_t> proc_rss(long pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return std::nullopt;
}

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

std::string endpoint::source_for(std::size_t i) const {
  if (source_addrs <= 0) return {};
  return "127.0.0." + std::to_string(2 + i % static_cast<std::size_t>(source_addrs));
}

asio::awaitable<std::vector<bench_user>> register_users(const endpoint& ep, std::string tag,
                                                        int first, int n, int concurrency) {
  auto users = std::make_shared<std::vector<bench_user>>(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    (*users)[static_cast<std::size_t>(i)].handle = tag + "-" + std::to_string(first + i);
  auto next = std::make_shared<std::atomic<int>>(0);
  auto tg = std::make_shared<task_group>();
  auto& io = static_cast<asio::io_context&>((co_await asio::this_coro::executor).context());
  int k = std::max(1, std::min(concurrency, n));
  for (int j = 0; j < k; ++j) {
    spawn(io, tg, [users, next, n, ep, tag]() -> asio::awaitable<void> {
      for (int i; (i = next->fetch_add(1)) < n;) {
        auto& u = (*users)[static_cast<std::size_t>(i)];
        auto body = json::serialize(
            json::object{{"handle", u.handle}, {"password", "bench-password-" + tag}});
        auto r = co_await http_request(ep.host, ep.port, "POST", "/v1/register", body);
        if (r.status != 200)
          throw std::runtime_error("register " + u.handle + ": HTTP " + std::to_string(r.status) +
                                   " " + r.body);
        r = co_await http_request(ep.host, ep.port, "POST", "/v1/login", body);
        if (r.status != 200)
          throw std::runtime_error("login " + u.handle + ": HTTP " + std::to_string(r.status) +
                                   " " + r.body);
        auto v = json::parse(r.body).as_object();
        u.token = v["token"].as_string().c_str();
        u.uid = v["user"].as_object()["id"].as_int64();
      }
    });
  }
  co_await wait_all(tg, k, "register/login", 600);
  co_return std::move(*users);
}

asio::awaitable<json::object> ws_call(ws_stream& ws, json::object req, const std::string& id,
                                      void (*other)(void*, std::string_view), void* ctx) {
  req["id"] = id;
  std::string op = req["op"].is_string() ? req["op"].get_string().c_str() : "?";
  ws.send(json::serialize(req));
  for (;;) {
    std::string_view m = co_await ws.read();
    std::size_t i = 0;
    std::optional<json::object> reply;
    while (i < m.size()) {
      auto j = m.find('\n', i);
      if (j == std::string_view::npos) j = m.size();
      auto f = m.substr(i, j - i);
      i = j + 1;
      if (f.empty()) continue;
      // Replies start with {"id":"<id>" in the server's layout; anything else is "other".
      std::string pre = "{\"id\":\"" + id + "\"";
      if (f.starts_with(pre)) {
        reply = json::parse(json::string_view(f.data(), f.size())).as_object();
      } else if (other) {
        other(ctx, f);
      }
    }
    if (reply) {
      auto* res = reply->if_contains("result");
      if (!res || !res->is_object())
        throw std::runtime_error(op + " failed: " + json::serialize(*reply));
      co_return res->get_object();
    }
  }
}

namespace {
// Connects connection `idx` to Parley's /v1/ws with more request header lines.
asio::awaitable<void> ws_connect_parley(ws_stream& ws, const endpoint& ep, std::size_t idx,
                                        std::string headers) {
  std::string source = ep.source_for(idx);  // (named: GCC 12 and co_await temporaries)
  std::string path = "/v1/ws";
  std::string host = ep.host_for(idx);
  co_await ws.connect(host, ep.port_for(idx), path, source, std::move(headers));
}
}  // namespace

asio::awaitable<void> ws_connect_auth(ws_stream& ws, const endpoint& ep, std::size_t idx,
                                      const std::string& token) {
  co_await ws_connect_parley(ws, ep, idx, {});
  json::object req;
  req["op"] = "auth";
  req["token"] = token;
  std::string id = "auth";
  co_await ws_call(ws, std::move(req), id);
}

asio::awaitable<void> ws_connect_bearer(ws_stream& ws, const endpoint& ep, std::size_t idx,
                                        const std::string& token) {
  std::string headers = "Authorization: Bearer " + token + "\r\n";
  co_await ws_connect_parley(ws, ep, idx, std::move(headers));
}

asio::awaitable<std::int64_t> post_messages(ws_stream& ws, std::int64_t conv, int count, int window,
                                            std::string prefix) {
  // Named first: GCC 12 mishandles some temporaries inside a co_await expression.
  std::function<std::string(int)> text = [prefix](int k) {
    return "history message " + std::to_string(k) + " of " + prefix;
  };
  auto last = co_await post_messages(ws, conv, count, window, prefix, std::move(text));
  co_return last;
}

asio::awaitable<std::int64_t> post_messages(ws_stream& ws, std::int64_t conv, int count, int window,
                                            std::string prefix,
                                            std::function<std::string(int)> text) {
  int sent = 0, acked = 0;
  std::int64_t last = 0;
  auto send = [&] {
    ws.send("{\"id\":" + std::to_string(sent) + ",\"op\":\"send\",\"conv\":" +
            std::to_string(conv) + ",\"client_msg_id\":\"" + prefix + "-" + std::to_string(sent) +
            "\",\"text\":" + json::serialize(json::string(text(sent))) + "}");
    ++sent;
  };
  while (sent < count && sent - acked < window) send();
  while (acked < count) {
    std::string_view m = co_await ws.read();
    std::size_t i = 0;
    while (i < m.size()) {
      auto j = m.find('\n', i);
      if (j == std::string_view::npos) j = m.size();
      auto f = m.substr(i, j - i);
      i = j + 1;
      if (!f.starts_with("{\"id\":")) continue;
      auto v = json::parse(json::string_view(f.data(), f.size())).as_object();
      if (!v["id"].is_int64()) continue;
      auto* r = v.if_contains("result");
      if (!r) throw std::runtime_error("send failed: " + std::string(f));
      last = std::max(last, r->as_object().at("seq").as_int64());
      ++acked;
    }
    while (sent < count && sent - acked < window) send();
  }
  co_return last;
}

asio::awaitable<std::int64_t> create_group(ws_stream& ws, std::vector<std::string> handles,
                                           std::string title) {
  json::array members;
  for (auto& h : handles) members.emplace_back(h);
  json::object req;
  req["op"] = "conv.create";
  req["kind"] = "group";
  req["title"] = title;
  req["members"] = std::move(members);
  std::string id = "create";
  auto r = co_await ws_call(ws, std::move(req), id);
  co_return r["conversation"].as_object()["id"].as_int64();
}

asio::awaitable<void> connect_peer(ws_stream& ws, const endpoint& ep, bool socketio,
                                   std::size_t idx, std::int64_t uid) {
  std::string path = socketio ? "/socket.io/?EIO=4&transport=websocket&user=" : "/v1/ws?user=";
  path += std::to_string(uid);
  std::string source = ep.source_for(idx);
  std::string host = ep.host_for(idx);
  co_await ws.connect(host, ep.port_for(idx), path, source);
  if (!socketio) co_return;
  for (bool connected = false; !connected;) {
    std::string_view m = co_await ws.read();
    if (m.starts_with("0{")) ws.send("40");
    if (m.starts_with("40")) connected = true;
  }
}

json::object histogram_json(const histogram& h) {
  json::array b;
  const auto& c = h.raw_counts();
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i]) b.push_back(json::array{static_cast<std::uint64_t>(i), c[i]});
  return json::object{{"b", std::move(b)}, {"max", h.max()}, {"sum", h.sum()}};
}

void histogram_merge_json(histogram& h, const json::object& o) {
  histogram x;
  for (const auto& e : o.at("b").as_array()) {
    const auto& p = e.as_array();
    x.add_raw(static_cast<std::size_t>(p.at(0).to_number<std::uint64_t>()),
              p.at(1).to_number<std::uint64_t>());
  }
  x.set_max_sum(o.at("max").to_number<std::uint64_t>(), o.at("sum").to_number<double>());
  h.merge(x);
}

std::string random_tag() {
  std::random_device rd;
  char b[16];
  std::snprintf(b, sizeof b, "b%06x", rd() & 0xffffff);
  return b;
}

io_pool::io_pool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    ios_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*ios_.back()));
  }
  for (auto& io : ios_) threads_.emplace_back([p = io.get()] { p->run(); });
}

io_pool::~io_pool() {
  guards_.clear();
  for (auto& io : ios_) io->stop();
  for (auto& t : threads_) t.join();
}

asio::awaitable<std::map<std::string, double>> fetch_metrics(const endpoint& ep) {
  std::map<std::string, double> m;
  std::string method = "GET", target = "/metrics", body;
  auto r = co_await http_request(ep.host, ep.port, method, target, body);
  if (r.status != 200) co_return m;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    try {
      m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  co_return m;
}

void cache_stats(const std::map<std::string, double>& a, const std::map<std::string, double>& b,
                 json::object& out) {
  auto get = [](const std::map<std::string, double>& m, const char* k) {
    auto it = m.find(k);
    return it == m.end() ? -1.0 : it->second;
  };
  double h0 = get(a, "parley_event_cache_hits_total"), h1 = get(b, "parley_event_cache_hits_total");
  double m0 = get(a, "parley_event_cache_misses_total"),
         m1 = get(b, "parley_event_cache_misses_total");
  if (h1 < 0 || m1 < 0) return;  // no cache metrics (a peer, or an older server)
  double hits = h1 - std::max(0.0, h0), misses = m1 - std::max(0.0, m0);
  out["cache_hits"] = hits;
  out["cache_misses"] = misses;
  out["cache_hit_rate"] = hits + misses > 0 ? hits / (hits + misses) : 0.0;
  out["cache_bytes"] = get(b, "parley_event_cache_bytes");
  out["cache_events"] = get(b, "parley_event_cache_events");
}

// --- child processes -----------------------------------------------------------------------

std::vector<child_proc> start_children(int argc, char** argv, int procs) {
  std::vector<child_proc> cs;
  for (int i = 0; i < procs; ++i) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args(argv, argv + argc);
    args.push_back("--child");
    args.push_back(std::to_string(i));
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    std::fflush(nullptr);
    int pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      execv("/proc/self/exe", cargs.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    cs.push_back(child_proc{pid, in[1], out[0], {}});
  }
  return cs;
}

std::string child_read_line(child_proc& c) {
  for (;;) {
    auto nl = c.buf.find('\n');
    if (nl != std::string::npos) {
      auto line = c.buf.substr(0, nl);
      c.buf.erase(0, nl + 1);
      return line;
    }
    char b[65536];
    auto n = read(c.from, b, sizeof b);
    if (n <= 0) throw std::runtime_error("generator process " + std::to_string(c.pid) + " ended");
    c.buf.append(b, static_cast<std::size_t>(n));
  }
}

void child_write_line(child_proc& c, const std::string& line) {
  std::string l = line + "\n";
  std::size_t off = 0;
  while (off < l.size()) {
    auto n = write(c.to, l.data() + off, l.size() - off);
    if (n <= 0) throw std::runtime_error("generator process " + std::to_string(c.pid) + " gone");
    off += static_cast<std::size_t>(n);
  }
}

bool reap_children(std::vector<child_proc>& cs) {
  bool ok = true;
  for (auto& c : cs) {
    if (c.to >= 0) close(c.to);
    if (c.from >= 0) close(c.from);
    int st = 0;
    if (c.pid > 0 && waitpid(c.pid, &st, 0) == c.pid)
      ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  return ok;
}

std::int64_t child_ready_and_wait() {
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line.rfind("go ", 0) != 0)
    throw std::runtime_error("child: no start signal from the parent");
  return std::stoll(line.substr(3));
}

void child_send_result(const json::object& o) {
  std::cout << "result " << json::serialize(o) << std::endl;
}

void child_send_error(const std::string& msg) {
  std::string m = msg;
  for (auto& ch : m)
    if (ch == '\n') ch = ' ';
  std::cout << "error " << m << std::endl;
}

arg_reader::arg_reader(int argc, char** argv, const char* usage)
    : argc_(argc), argv_(argv), usage_(usage), i_(0) {
  if (argc_ > 1 && argv_[1][0] != '-') i_ = 1;  // the workload's name
}

bool arg_reader::next() {
  if (++i_ >= argc_) return false;
  cur_ = argv_[i_];
  return true;
}

std::string arg_reader::value() {
  if (i_ + 1 >= argc_) error(cur_ + " needs a value");
  return argv_[++i_];
}

double arg_reader::number() {
  auto name = cur_;
  auto v = value();
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || d < 0) error(name + ": not a number: " + v);
  return d;
}

int arg_reader::integer() {
  auto name = cur_;
  double d = number();
  if (d != static_cast<double>(static_cast<long long>(d)) || d > 2e9)
    error(name + ": not an integer");
  return static_cast<int>(d);
}

void arg_reader::error(const std::string& msg) const {
  std::fprintf(stderr, "parley-bench: %s\n\n%s", msg.c_str(), usage_);
  std::exit(2);
}

void arg_reader::unknown() const {
  error("unknown argument " + cur_);
}

bool arg_reader::common(common_options& o) {
  if (cur_ == "-h" || cur_ == "--help") {
    std::fputs(usage_, stdout);
    std::exit(0);
  } else if (cur_ == "--url") {
    url_ = value();
  } else if (cur_ == "--source-addrs") {
    o.ep.source_addrs = integer();
    if (o.ep.source_addrs > 250) error("--source-addrs is 0..250");
  } else if (cur_ == "--server-pid") {
    o.server_pids.clear();
    for (const auto& p : list()) {
      char* end = nullptr;
      long v = std::strtol(p.c_str(), &end, 10);
      if (*end != '\0' || v <= 0) error("--server-pid takes process ids");
      o.server_pids.push_back(v);
    }
    o.server_pid = o.server_pids.front();
  } else if (cur_ == "--json") {
    o.json_line = true;
  } else if (cur_ == "--quiet") {
    o.quiet = true;
  } else if (cur_ == "--child") {
    o.child = integer();
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> arg_reader::list() {
  auto name = cur_;
  auto v = value();
  std::vector<std::string> out;
  for (std::size_t p = 0; p <= v.size();) {
    auto q = v.find(',', p);
    if (q == std::string::npos) q = v.size();
    if (q == p) error(name + ": an empty item in " + v);
    out.push_back(v.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

void arg_reader::require_target(const std::string& target) const {
  if (target != "parley" && target != "peer" && target != "socketio")
    error("--target is parley, peer or socketio");
}

void arg_reader::require_url(endpoint& ep) const {
  if (url_.empty()) error("--url is required");
  ep.nodes.clear();
  std::string_view rest = url_;
  while (true) {
    auto comma = rest.find(',');
    std::string url(rest.substr(0, comma));
    for (std::string_view pre : {"ws://", "http://"})
      if (url.starts_with(pre)) url.erase(0, pre.size());
    if (auto slash = url.find('/'); slash != std::string::npos) url.erase(slash);
    auto colon = url.rfind(':');
    if (colon == std::string::npos) error("--url takes HOST:PORT[,HOST:PORT...]");
    std::string host = url.substr(0, colon);
    auto ps = url.substr(colon + 1);
    char* end = nullptr;
    long port = std::strtol(ps.c_str(), &end, 10);
    if (ps.empty() || *end != '\0' || port <= 0 || port > 65535) error("bad port in --url: " + ps);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    ep.nodes.emplace_back(host, static_cast<std::uint16_t>(port));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  ep.host = ep.nodes.front().first;
  ep.port = ep.nodes.front().second;
}

std::string fmt0(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}
std::string fmt1(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}
std::string fmt2(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

long raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

}  // namespace bench
