#include "server/server.hpp"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <filesystem>
#include <thread>

#include "bus/local_bus.hpp"
#include "bus/nats_bus.hpp"
#include "core/service.hpp"
#include "core/thread_name.hpp"
#include "server/cluster_rates.hpp"
#include "server/connection_limits.hpp"
#include "server/frame_sink.hpp"
#include "server/hub.hpp"
#include "server/metrics.hpp"
#include "server/presence.hpp"
#include "server/receipt_batcher.hpp"
#include "server/search_indexer.hpp"
#include "server/signed_tokens.hpp"
#include "server/typing.hpp"
#include "server/upload_gc.hpp"
#include "store/blob_store.hpp"
#include "store/cached_store.hpp"
#include "store/pg/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "transport/http_listener.hpp"

namespace parley {

namespace {
// CPUs this process may run on (its affinity mask, e.g. under taskset), at least 1.
std::size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// A cluster node's default name: <hostname>-<pid>.
std::string default_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "node");
  std::string out;
  for (char c : std::string(host))
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.substr(0, 48) + "-" + std::to_string(getpid());
}
}  // namespace

namespace asio = boost::asio;

namespace {
pw_cost parse_cost(const std::string& s) {
  if (s == "minimum") return pw_cost::minimum;
  if (s == "moderate") return pw_cost::moderate;
  return pw_cost::interactive;
}
}  // namespace

struct server::impl {
  server_context ctx;
  metrics m;
  std::unique_ptr<store> db;         // sqlite::sqlite_store or pg::pg_store (store.backend)
  std::unique_ptr<cached_store> st;  // over db
  hub h{m};
  // local_bus, or nats_bus in a cluster (cluster.nats_url). After the hub, which its
  // handlers call: closed in run() before the I/O threads stop, destroyed before the hub.
  std::unique_ptr<bus> b;
  asio::thread_pool cpu{2};
  std::unique_ptr<service> svc;
  std::unique_ptr<blob_store> blobs;
  // Before the receipt batcher and the presence tracker, whose timers run on it: members are
  // destroyed in reverse order, and a timer must not outlive its io_context.
  asio::io_context main_io;
  std::shared_ptr<receipt_batcher> receipts;
  std::unique_ptr<typing_tracker> typing;
  std::shared_ptr<presence_tracker> presence;
  std::shared_ptr<cluster_rates> rates;  // in a cluster with rate limits on
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  asio::steady_timer expiry_timer{main_io};
  std::unique_ptr<http_listener> listener;

  explicit impl(server_config cfg) {
    ctx.cfg = std::move(cfg);
    auto jwt = load_jwt_verifier(ctx.cfg);  // before anything is opened: a bad key stops here
    if (!jwt) throw std::runtime_error(jwt.err().message);
    if (!ctx.cfg.web_dir.empty() && !std::filesystem::is_directory(ctx.cfg.web_dir))
      throw std::runtime_error("web.dir is not a directory: " + ctx.cfg.web_dir);
    std::filesystem::create_directories(ctx.cfg.data_dir);
    auto observe = [this](std::size_t writes, double secs) { m.observe_commit(writes, secs); };
    if (ctx.cfg.backend == "postgres") {
      pg::pg_options po;
      po.conninfo = ctx.cfg.postgres_url;
      po.readers = static_cast<std::size_t>(ctx.cfg.readers);
      po.max_batch = static_cast<std::size_t>(ctx.cfg.max_batch);
      po.queue_limit = static_cast<std::size_t>(ctx.cfg.queue_limit);
      db = std::make_unique<pg::pg_store>(po, observe);
    } else {
      sqlite::sqlite_options so;
      so.path = (std::filesystem::path(ctx.cfg.data_dir) / "parley.db").string();
      so.synchronous = ctx.cfg.synchronous;
      so.readers = static_cast<std::size_t>(ctx.cfg.readers);
      so.max_batch = static_cast<std::size_t>(ctx.cfg.max_batch);
      so.queue_limit = static_cast<std::size_t>(ctx.cfg.queue_limit);
      so.checkpoint_pages = static_cast<std::uint32_t>(ctx.cfg.checkpoint_pages);
      auto sq = std::make_unique<sqlite::sqlite_store>(so, observe);
      m.checkpoints = [s = sq.get()] {
        auto c = s->checkpoints();
        return metrics::checkpoint_figures{c.checkpoints, c.held, c.failed, c.held_us,
                                           c.max_frames};
      };
      db = std::move(sq);
    }
    event_cache::options co;
    co.per_conv = static_cast<std::size_t>(ctx.cfg.cache_events_per_conv);
    co.max_bytes = static_cast<std::size_t>(ctx.cfg.cache_max_bytes);
    // Several nodes may share a PostgreSQL database: the writer's membership cache is off.
    st = std::make_unique<cached_store>(*db, co, ctx.cfg.backend == "postgres");
    m.cache = &st->cache();
    if (ctx.cfg.nats_url.empty()) {
      b = std::make_unique<local_bus>();
    } else {
      nats_options no;
      no.url = ctx.cfg.nats_url;
      no.node_id = ctx.cfg.node_id.empty() ? default_node_id() : ctx.cfg.node_id;
      b = std::make_unique<nats_bus>(no);
      spdlog::info("event=cluster node={}", no.node_id);  // never the URL: it may hold a password
    }
    b->subscribe([this](const std::vector<committed_event_ptr>& evs) { h.dispatch(evs); });
    b->subscribe_notices(
        [this](const std::vector<user_id>& users, const std::shared_ptr<const std::string>& f) {
          h.notify_users(users, f);
        });
    b->on_lost([this] { h.resync_all(); });
    // What other nodes do for their own sessions: close a device logged out there, or
    // move its expiry after a token refresh ("<device>" / "<device> <expires_ms>").
    b->subscribe_control("logout", [this](std::string_view p) {
      device_id d = 0;
      if (std::from_chars(p.data(), p.data() + p.size(), d).ec == std::errc() && d > 0)
        h.close_device(d, close_code::logged_out, "logged out");
    });
    b->subscribe_control("refresh", [this](std::string_view p) {
      device_id d = 0;
      std::int64_t exp = 0;
      auto sp = p.find(' ');
      if (sp == std::string_view::npos) return;
      if (std::from_chars(p.data(), p.data() + sp, d).ec == std::errc() &&
          std::from_chars(p.data() + sp + 1, p.data() + p.size(), exp).ec == std::errc() && d > 0)
        h.refresh_device(d, exp);
    });
    service_options opt;
    opt.jwt = std::move(*jwt);
    opt.jwt_auto_create = ctx.cfg.jwt_auto_create == "on";
    if (opt.jwt)
      spdlog::info("event=signed_tokens algorithm={} auto_create={}", ctx.cfg.jwt_algorithm,
                   ctx.cfg.jwt_auto_create);
    opt.token_ttl_ms = ctx.cfg.token_ttl_s * 1000;
    opt.password_cost = parse_cost(ctx.cfg.password_cost);
    opt.max_text_bytes = static_cast<std::size_t>(ctx.cfg.max_text_bytes);
    opt.max_title_bytes = static_cast<std::size_t>(ctx.cfg.max_title_bytes);
    opt.history_page_max = static_cast<std::size_t>(ctx.cfg.history_page_max);
    opt.history_page_default = std::min<std::size_t>(50, opt.history_page_max);
    opt.group_max_members = static_cast<std::size_t>(ctx.cfg.group_max_members);
    opt.run_cpu = [this](std::function<void()> f) { asio::post(cpu, std::move(f)); };
    opt.on_user_notice = [this](user_id u, std::shared_ptr<const std::string> f) {
      b->publish_notice(0, {u}, std::move(f));
    };
    opt.edit_window_ms = ctx.cfg.edit_window_s * 1000;
    opt.max_attachments = static_cast<std::size_t>(ctx.cfg.max_attachments);
    if (ctx.cfg.rate_enabled == "on") {
      const auto& c = ctx.cfg;
      auto per_min = [](std::int64_t n) { return static_cast<double>(n) / 60.0; };
      rate_limiter::rules r{};
      r[static_cast<std::size_t>(rate_class::write)] = {double(c.rate_write_per_s),
                                                        double(c.rate_write_burst)};
      r[static_cast<std::size_t>(rate_class::typing)] = {double(c.rate_typing_per_s),
                                                         double(c.rate_typing_burst)};
      r[static_cast<std::size_t>(rate_class::search)] = {double(c.rate_search_per_s),
                                                         double(c.rate_search_burst)};
      r[static_cast<std::size_t>(rate_class::upload)] = {per_min(c.rate_upload_per_min),
                                                         double(c.rate_upload_burst)};
      r[static_cast<std::size_t>(rate_class::login_account)] = {per_min(c.rate_login_per_min),
                                                                double(c.rate_login_burst)};
      r[static_cast<std::size_t>(rate_class::auth_address)] = {per_min(c.rate_auth_address_per_min),
                                                               double(c.rate_auth_address_burst)};
      opt.limiter = std::make_shared<rate_limiter>(r);
      if (b->clustered()) rates = std::make_shared<cluster_rates>(main_io, *b, opt.limiter);
    }
    receipts = std::make_shared<receipt_batcher>(
        main_io, *st, *b, std::chrono::milliseconds(ctx.cfg.receipts_flush_ms));
    typing = std::make_unique<typing_tracker>(*st, *b);
    presence = std::make_shared<presence_tracker>(
        main_io, *st, *b, *typing, std::chrono::milliseconds(ctx.cfg.presence_flush_ms),
        std::chrono::seconds(ctx.cfg.presence_idle_s));
    opt.on_receipt = [this](const receipt_change& c) { receipts->add(c); };
    opt.on_delivered = [this](device_id d, user_id u, conv_id c, seq_t s) {
      receipts->add_delivered(d, u, c, s);
    };
    opt.on_prefs = [this](user_id u, const user_prefs& p) {
      presence->set_invisible(u, p.invisible);
    };
    opt.on_logout = [this](device_id d) {
      h.close_device(d, close_code::logged_out, "logged out");
      b->publish_control("logout", std::to_string(d));
    };
    opt.on_token_refreshed = [this](device_id d, std::int64_t expires_ms) {
      h.refresh_device(d, expires_ms);
      b->publish_control("refresh", std::to_string(d) + " " + std::to_string(expires_ms));
    };
    opt.on_send_ack = [this](bool duplicate) {
      (duplicate ? m.sends_duplicate_total : m.sends_total).fetch_add(1, std::memory_order_relaxed);
    };
    svc = std::make_unique<service>(*st, *b, std::move(opt));
    ctx.st = st.get();
    ctx.svc = svc.get();
    ctx.h = &h;
    ctx.b = b.get();
    ctx.m = &m;
    blobs = std::make_unique<blob_store>(
        ctx.cfg.uploads_dir.empty() ? (std::filesystem::path(ctx.cfg.data_dir) / "uploads").string()
                                    : ctx.cfg.uploads_dir);
    ctx.blobs = blobs.get();
    ctx.typing = typing.get();
    ctx.presence = presence.get();
    ctx.conns = std::make_shared<connection_limits>(ctx.cfg.max_connections_per_address,
                                                    ctx.cfg.max_connections_per_user);
    auto n = ctx.cfg.threads > 0 ? static_cast<std::size_t>(ctx.cfg.threads) : usable_cpus();
    std::vector<asio::io_context*> raw;
    for (std::size_t i = 0; i < n; ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*ios.back()));
      raw.push_back(ios.back().get());
    }
    h.attach(raw);
    listener = std::make_unique<http_listener>(ctx, raw, ctx.cfg.host,
                                               static_cast<std::uint16_t>(ctx.cfg.port));
  }

  int run() {
    for (auto& io : ios) {
      threads.emplace_back([&io] {
        name_thread("parley-io");
        for (;;) {
          try {
            io->run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("event=io_thread_exception what=\"{}\"", e.what());
          }
        }
      });
    }
    std::make_shared<search_indexer>(main_io, *st,
                                     std::chrono::milliseconds(ctx.cfg.search_index_ms), 2000)
        ->start();
    std::make_shared<upload_gc>(main_io, *st, *blobs, std::chrono::seconds(ctx.cfg.upload_gc_s),
                                std::chrono::seconds(ctx.cfg.upload_grace_s))
        ->start();
    receipts->start();
    presence->start();
    if (rates) rates->start();
    sweep_expired();
    listener->start();
    std::printf("parley listening on %s:%u\n", ctx.cfg.host.c_str(), listener->port());
    std::fflush(stdout);
    // Never the postgres_url: it may hold a password.
    spdlog::info("event=listening host={} port={} data_dir={} threads={} backend={} synchronous={}",
                 ctx.cfg.host, listener->port(), ctx.cfg.data_dir, ios.size(), ctx.cfg.backend,
                 ctx.cfg.synchronous);

    asio::signal_set signals(main_io, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("event=shutdown signal={}", sig);
      listener->stop();
      listener->close_websockets(close_code::going_away, "server shutting down");
      wait_for_clients(std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(ctx.cfg.shutdown_grace_ms));
    });
    main_io.run();

    st->stop();  // every queued write is committed (or failed) and answered
    b->close();  // and published; nothing arrives from other nodes any more
    cpu.join();
    guards.clear();
    for (auto& io : ios) {
      asio::steady_timer t(*io, std::chrono::milliseconds(100));  // let replies flush
      t.wait();
      io->stop();
    }
    for (auto& t : threads) t.join();
    spdlog::info("event=stopped");
    return 0;
  }

  // Once a second: connections whose token expired are closed (4003), as after a logout.
  void sweep_expired() {
    expiry_timer.expires_after(std::chrono::seconds(1));
    expiry_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      h.close_expired(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
      sweep_expired();
    });
  }

  void wait_for_clients(std::chrono::steady_clock::time_point deadline) {
    if (listener->websocket_count() == 0 || std::chrono::steady_clock::now() >= deadline) {
      main_io.stop();
      return;
    }
    auto t = std::make_shared<asio::steady_timer>(main_io, std::chrono::milliseconds(20));
    t->async_wait(
        [this, t, deadline](const boost::system::error_code&) { wait_for_clients(deadline); });
  }
};

server::server(server_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
server::~server() = default;
std::uint16_t server::port() const {
  return impl_->listener->port();
}
int server::run() {
  return impl_->run();
}

}  // namespace parley
