#include "server/config.hpp"

#include "transport/client_address.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <sstream>
#include <variant>

namespace parley {

namespace {

struct option_def {
  const char* section;
  const char* key;
  std::variant<std::string server_config::*, std::int64_t server_config::*> field;
  const char* description;
};

const std::vector<option_def>& defs() {
  static const std::vector<option_def> d = {
      {"server", "host", &server_config::host, "Address to listen on."},
      {"server", "port", &server_config::port,
       "TCP port to listen on; 0 picks a free port (printed at start)."},
      {"server", "data_dir", &server_config::data_dir,
       "Directory of the database (parley.db) and other data."},
      {"server", "threads", &server_config::threads,
       "I/O threads, one io_context each; 0 = one per CPU the process may run on (its affinity "
       "mask)."},
      {"server", "log_level", &server_config::log_level, "trace, debug, info, warn, error or off."},
      {"server", "allowed_origins", &server_config::allowed_origins,
       "Web origins whose pages may use the server from a browser (WebSocket, SSE, REST; "
       "checked against the Origin header): \"\" = only the server's own origin, \"*\" = "
       "any, or a comma-separated list such as \"https://chat.example.com\". Requests "
       "from other origins get 403; requests without an Origin header are not browsers' and "
       "are not affected."},
      {"server", "trusted_proxies", &server_config::trusted_proxies,
       "Load balancers or reverse proxies in front of this server (comma-separated IP "
       "addresses, e.g. \"10.0.0.2,10.0.0.3\"): for connections from them the client's "
       "address is the last one in X-Forwarded-For, for the per-address limits and logs. "
       "Empty: every client's address is its TCP peer's."},
      {"store", "backend", &server_config::backend,
       "\"sqlite\": the database is parley.db in data_dir; \"postgres\": a PostgreSQL 15 "
       "database (postgres_url), which several Parley nodes may share."},
      {"store", "postgres_url", &server_config::postgres_url,
       "backend = \"postgres\": a libpq connection string or URI, e.g. "
       "\"postgresql://parley@db.example.com/parley\"; empty: libpq's defaults (PGHOST, "
       "PGUSER... and ~/.pgpass). Put a password in PGPASSWORD, ~/.pgpass or the "
       "environment variable PARLEY_STORE_POSTGRES_URL rather than in this file; it is never "
       "logged."},
      {"store", "synchronous", &server_config::synchronous,
       "SQLite: \"full\": a write is acknowledged (and readable) only after an fsync of the "
       "WAL that covers its commit, made behind the writer (survives power loss); "
       "\"normal\": acknowledged at commit, no fsync per commit (survives a process crash "
       "only). PostgreSQL always waits for the commit's WAL flush (synchronous_commit = on)."},
      {"store", "readers", &server_config::readers,
       "Reader threads, each with its own read-only connection."},
      {"store", "max_batch", &server_config::max_batch,
       "Most writes committed in one transaction (group commit)."},
      {"store", "queue_limit", &server_config::queue_limit,
       "Queued writes (and reads) before requests fail with rate_limited."},
      {"store", "search_index_ms", &server_config::search_index_ms,
       "New messages are added to the search index in batches this often (milliseconds); "
       "search finds a message once indexed."},
      {"store", "checkpoint_pages", &server_config::checkpoint_pages,
       "SQLite: the WAL is copied into the database every this many new pages (4 KiB), by a "
       "thread beside the writer; under steady writes the WAL starts again from its "
       "beginning once it holds four times as many (the file keeps that size). 0: the "
       "writer checkpoints inside its commits."},
      {"store", "uploads_dir", &server_config::uploads_dir,
       "Directory of uploaded files (content-addressed by SHA-256); empty: the uploads "
       "directory inside data_dir."},
      {"store", "upload_gc_s", &server_config::upload_gc_s,
       "How often unreferenced uploads are looked for and removed (seconds); also once at "
       "start."},
      {"store", "cache_events_per_conv", &server_config::cache_events_per_conv,
       "Recent events cached in memory per active conversation, for resume and the newest "
       "history page; 0 turns the cache off."},
      {"store", "cache_max_bytes", &server_config::cache_max_bytes,
       "Memory for the recent-events cache over all conversations (least recently used "
       "conversations are evicted)."},
      {"cluster", "nats_url", &server_config::nats_url,
       "Empty: a single node. Otherwise the NATS server(s) that carry events, notices and "
       "presence between the nodes of a cluster, e.g. \"nats://10.0.0.5:4222\" (several: "
       "comma-separated); every node must use the same PostgreSQL database (store.backend = "
       "\"postgres\"). Credentials in the URL are never logged."},
      {"cluster", "node_id", &server_config::node_id,
       "This node's name in the cluster (letters, digits, '-', '_', '.'; at most 64); empty: "
       "<hostname>-<pid>. Must differ between the nodes running at once."},
      {"auth", "token_ttl_s", &server_config::token_ttl_s,
       "Lifetime of a login token in seconds (30 days); its connections close (4003) when it "
       "expires, unless it was refreshed (token.refresh) before."},
      {"auth", "password_cost", &server_config::password_cost,
       "Argon2id cost: \"interactive\", \"moderate\", or \"minimum\" (tests and benchmarks only)."},
      {"jwt", "enabled", &server_config::jwt_enabled,
       "\"on\": bearer tokens signed by an external auth service (compact JWS/JWT) are "
       "accepted beside Parley's own tokens, wherever a token is (docs/security.md, \"Signed "
       "tokens\"); \"off\": only Parley's tokens."},
      {"jwt", "algorithm", &server_config::jwt_algorithm,
       "The one signature algorithm accepted: \"EdDSA\" (Ed25519) or \"HS256\" "
       "(HMAC-SHA-256); a token whose header names another (\"none\" included) is refused."},
      {"jwt", "public_key", &server_config::jwt_public_key,
       "EdDSA: the auth service's Ed25519 public key, as 64 hex digits, base64 or base64url "
       "of its 32 bytes, or a PEM PUBLIC KEY block (or use key_file)."},
      {"jwt", "key_file", &server_config::jwt_key_file,
       "A file holding the EdDSA public key (as public_key), or the HS256 secret (its bytes, "
       "one trailing newline dropped; at least 32 bytes)."},
      {"jwt", "secret_env", &server_config::jwt_secret_env,
       "HS256: the name of an environment variable holding the secret (at least 32 bytes), "
       "instead of key_file. The secret itself never goes in this file."},
      {"jwt", "issuer", &server_config::jwt_issuer,
       "The iss claim every token must carry, exactly (required when enabled)."},
      {"jwt", "audience", &server_config::jwt_audience,
       "The value the aud claim (a string or an array of strings) must contain (required "
       "when enabled)."},
      {"jwt", "leeway_s", &server_config::jwt_leeway_s,
       "Clock skew allowed on exp, nbf and iat, in seconds (0..600); a connection "
       "authenticated with a signed token closes (4003) at exp plus this."},
      {"jwt", "auto_create", &server_config::jwt_auto_create,
       "\"on\": a token whose sub names no user creates that user (without a password); "
       "\"off\": the user must already exist."},
      {"limits", "max_frame_bytes", &server_config::max_frame_bytes,
       "Largest request frame or HTTP JSON body; larger ones get a too_large error and the "
       "connection stays open."},
      {"limits", "max_frame_hard_bytes", &server_config::max_frame_hard_bytes,
       "Largest WebSocket message read at all; larger closes the connection with 1009."},
      {"limits", "max_text_bytes", &server_config::max_text_bytes,
       "Longest message text, in UTF-8 bytes."},
      {"limits", "max_title_bytes", &server_config::max_title_bytes,
       "Longest conversation title, in UTF-8 bytes."},
      {"limits", "history_page_max", &server_config::history_page_max,
       "Most events in one history page."},
      {"limits", "edit_window_s", &server_config::edit_window_s,
       "How long after sending a message its sender may edit it, in seconds; 0: always."},
      {"limits", "group_max_members", &server_config::group_max_members,
       "Most members of a group."},
      {"limits", "outbound_queue_bytes", &server_config::outbound_queue_bytes,
       "Bytes queued for one connection, beyond what its socket takes, before it is closed as a "
       "slow consumer (4002)."},
      {"limits", "max_inflight_requests", &server_config::max_inflight_requests,
       "Requests of one connection awaiting their reply; more get rate_limited."},
      {"limits", "max_http_body_bytes", &server_config::max_http_body_bytes,
       "Largest HTTP request body."},
      {"limits", "max_upload_bytes", &server_config::max_upload_bytes,
       "Largest upload (POST /v1/uploads), in bytes; larger ones get 413 too_large."},
      {"limits", "upload_grace_s", &server_config::upload_grace_s,
       "An upload no message carries (never attached, or its messages were deleted) is "
       "removed this many seconds after it was last uploaded or detached."},
      {"limits", "max_attachments", &server_config::max_attachments,
       "Most attachments on one message."},
      {"limits", "max_connections_per_address", &server_config::max_connections_per_address,
       "Open WebSockets and event streams from one IP address; more get 429 (0: no limit)."},
      {"limits", "max_connections_per_user", &server_config::max_connections_per_user,
       "Open WebSockets and event streams of one user, over all devices; more get 429, or "
       "close 4006 when the WebSocket authenticates with a frame (0: no limit)."},
      {"limits", "replay_batch", &server_config::replay_batch,
       "Events read per catch-up round during sync."},
      {"websocket", "handshake_timeout_ms", &server_config::handshake_timeout_ms,
       "Time allowed for the HTTP request and WebSocket handshake."},
      {"websocket", "auth_timeout_ms", &server_config::auth_timeout_ms,
       "An unauthenticated WebSocket is closed (4001) after this long."},
      {"websocket", "heartbeat_timeout_ms", &server_config::heartbeat_timeout_ms,
       "The server pings after half of this much silence and closes a peer silent for all of it."},
      {"websocket", "shutdown_grace_ms", &server_config::shutdown_grace_ms,
       "On SIGTERM, time given to connections to flush before the process exits."},
      {"websocket", "permessage_deflate", &server_config::permessage_deflate,
       "\"on\": accept a client's permessage-deflate offer, without context takeover either "
       "way (no compression state per connection); \"off\": never compress."},
      {"websocket", "deflate_min_bytes", &server_config::deflate_min_bytes,
       "With permessage-deflate, server messages smaller than this go out uncompressed (a "
       "single small event shrinks little and costs CPU)."},
      {"websocket", "deflate_level", &server_config::deflate_level,
       "zlib compression level of server messages, 1 (fastest) to 9 (smallest)."},
      {"tls", "cert_file", &server_config::tls_cert_file,
       "PEM file of the server's certificate chain (its certificate first). With key_file set "
       "too, the port speaks TLS only: HTTPS and WSS for every endpoint. Read at start; a "
       "new certificate takes a restart."},
      {"tls", "key_file", &server_config::tls_key_file,
       "PEM file of the private key of cert_file's certificate (unencrypted)."},
      {"tls", "min_version", &server_config::tls_min_version,
       "Oldest TLS version accepted: \"1.2\" or \"1.3\". Older versions, SSLv3, TLS "
       "compression and renegotiation are never accepted."},
      {"tls", "ciphers", &server_config::tls_ciphers,
       "OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses OpenSSL's default AEAD suites); the "
       "default allows only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305."},
      {"rate", "enabled", &server_config::rate_enabled,
       "\"on\": the limits below apply (rate_limited with retry_after_ms; HTTP 429 with "
       "Retry-After); \"off\": none (benchmarks). Each limit is a token bucket: a burst, "
       "then a steady rate."},
      {"rate", "connection_per_s", &server_config::rate_connection_per_s,
       "Requests one WebSocket connection may make per second, of any kind."},
      {"rate", "connection_burst", &server_config::rate_connection_burst, "... and at once."},
      {"rate", "write_per_s", &server_config::rate_write_per_s,
       "Messages one user may send, edit, delete or react with per second (a retried send "
       "answered with its original acknowledgement costs nothing)."},
      {"rate", "write_burst", &server_config::rate_write_burst,
       "... and at once (a client flushing its offline outbox)."},
      {"rate", "typing_per_s", &server_config::rate_typing_per_s,
       "Typing starts and stops of one user per second."},
      {"rate", "typing_burst", &server_config::rate_typing_burst, "... and at once."},
      {"rate", "search_per_s", &server_config::rate_search_per_s,
       "Searches of one user per second."},
      {"rate", "search_burst", &server_config::rate_search_burst, "... and at once."},
      {"rate", "upload_per_min", &server_config::rate_upload_per_min,
       "Uploads of one user per minute."},
      {"rate", "upload_burst", &server_config::rate_upload_burst, "... and at once."},
      {"rate", "login_per_min", &server_config::rate_login_per_min,
       "Login attempts for one account per minute, from anywhere (password guessing)."},
      {"rate", "login_burst", &server_config::rate_login_burst, "... and at once."},
      {"rate", "auth_address_per_min", &server_config::rate_auth_address_per_min,
       "Logins and registrations from one IP address per minute."},
      {"rate", "auth_address_burst", &server_config::rate_auth_address_burst, "... and at once."},
      {"rate", "abuse_refusals", &server_config::rate_abuse_refusals,
       "A WebSocket that gets this many rate_limited replies within 10 s is closed with 4005 "
       "(it keeps going regardless); 0: never."},
      {"presence", "flush_ms", &server_config::presence_flush_ms,
       "Presence changes are announced this often (milliseconds), only if a user's state "
       "differs from the one last announced: a reconnect within it announces nothing."},
      {"presence", "idle_s", &server_config::presence_idle_s,
       "A connected device with no request showing someone there for this long counts as "
       "away (seconds)."},
      {"presence", "receipts_flush_ms", &server_config::receipts_flush_ms,
       "Delivered and read receipts are sent to the members this often (milliseconds), one "
       "notice per conversation with every change since the last."},
      {"web", "dir", &server_config::web_dir,
       "Directory of the built web app (index.html, app.js, app.css; the build writes it to "
       "<build>/web), served at / with GET and HEAD; API paths (/v1/..., /healthz, /metrics) "
       "take precedence. Empty: no web app (404 at /). Must exist when set."},
  };
  return d;
}

std::string default_of(const option_def& d) {
  server_config c;
  return std::visit(
      [&](auto f) -> std::string {
        using T = std::decay_t<decltype(c.*f)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return "\"" + c.*f + "\"";
        } else {
          return std::to_string(c.*f);
        }
      },
      d.field);
}

const option_def* find_def(const std::string& section, const std::string& key) {
  for (const auto& d : defs())
    if (section == d.section && key == d.key) return &d;
  return nullptr;
}

error config_error(const std::string& origin, const std::string& what) {
  return make_error(errc::invalid, origin + ": " + what, "config");
}

// The [jwt] table: enumerations, and when enabled the issuer, the audience and exactly
// one place for the key that fits the algorithm. The key itself is read at server start
// (server/signed_tokens.cpp).
result<unit> validate_jwt(const server_config& c) {
  auto bad = [](const std::string& what) { return config_error("config", what); };
  if (c.jwt_enabled != "on" && c.jwt_enabled != "off")
    return bad("jwt.enabled must be \"on\" or \"off\"");
  if (c.jwt_algorithm != "EdDSA" && c.jwt_algorithm != "HS256")
    return bad("jwt.algorithm must be \"EdDSA\" or \"HS256\"");
  if (c.jwt_auto_create != "on" && c.jwt_auto_create != "off")
    return bad("jwt.auto_create must be \"on\" or \"off\"");
  if (c.jwt_leeway_s < 0 || c.jwt_leeway_s > 600) return bad("jwt.leeway_s must be 0..600");
  if (c.jwt_enabled == "off") return unit{};
  if (c.jwt_issuer.empty()) return bad("jwt.issuer must be set when jwt.enabled is \"on\"");
  if (c.jwt_audience.empty()) return bad("jwt.audience must be set when jwt.enabled is \"on\"");
  if (c.jwt_algorithm == "EdDSA") {
    if (!c.jwt_secret_env.empty()) return bad("jwt.secret_env is for HS256, not EdDSA");
    if (c.jwt_public_key.empty() == c.jwt_key_file.empty())
      return bad("jwt: EdDSA needs exactly one of jwt.public_key and jwt.key_file");
  } else {
    if (!c.jwt_public_key.empty()) return bad("jwt.public_key is for EdDSA, not HS256");
    if (c.jwt_secret_env.empty() == c.jwt_key_file.empty())
      return bad("jwt: HS256 needs exactly one of jwt.key_file and jwt.secret_env");
  }
  return unit{};
}

}  // namespace

std::vector<option_info> config_options() {
  std::vector<option_info> out;
  for (const auto& d : defs()) out.push_back({d.section, d.key, default_of(d), d.description});
  return out;
}

std::string default_config_toml() {
  std::ostringstream o;
  o << "# Parley server configuration. Every option is shown with its default.\n"
       "# Environment variables PARLEY_<SECTION>_<KEY> (e.g. PARLEY_SERVER_PORT) override\n"
       "# this file; command-line flags (--port, --set section.key=value) override both.\n";
  std::string section;
  for (const auto& d : defs()) {
    if (section != d.section) {
      section = d.section;
      o << "\n[" << section << "]\n";
    }
    o << "# " << d.description << "\n" << d.key << " = " << default_of(d) << "\n";
  }
  return o.str();
}

result<unit> apply_setting(server_config& c, const std::string& section, const std::string& key,
                           const std::string& value, const std::string& origin) {
  const auto* d = find_def(section, key);
  if (!d) return config_error(origin, "unknown option " + section + "." + key);
  bool ok = std::visit(
      [&](auto f) -> bool {
        using T = std::decay_t<decltype(c.*f)>;
        if constexpr (std::is_same_v<T, std::string>) {
          c.*f = value;
          return true;
        } else {
          try {
            std::size_t pos = 0;
            auto v = std::stoll(value, &pos);
            if (pos != value.size()) return false;
            c.*f = v;
            return true;
          } catch (const std::exception&) {
            return false;
          }
        }
      },
      d->field);
  if (!ok) return config_error(origin, section + "." + key + " must be an integer");
  return unit{};
}

result<unit> apply_toml(server_config& c, const std::string& text, const std::string& origin) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << e.description() << " at line " << e.source().begin.line;
    return config_error(origin, o.str());
  }
  for (auto& [sec, node] : tbl) {
    auto* t = node.as_table();
    if (!t) return config_error(origin, std::string(sec.str()) + " must be a [section]");
    for (auto& [key, v] : *t) {
      std::string value;
      const auto* d = find_def(std::string(sec.str()), std::string(key.str()));
      if (!d)
        return config_error(
            origin, "unknown option " + std::string(sec.str()) + "." + std::string(key.str()));
      bool wants_string = std::holds_alternative<std::string server_config::*>(d->field);
      if (auto s = v.value<std::string>(); s && v.is_string() && wants_string) {
        value = *s;
      } else if (auto i = v.value<std::int64_t>(); i && v.is_integer() && !wants_string) {
        value = std::to_string(*i);
      } else {
        return config_error(origin,
                            std::string(sec.str()) + "." + std::string(key.str()) +
                                (wants_string ? " must be a string" : " must be an integer"));
      }
      auto r = apply_setting(c, std::string(sec.str()), std::string(key.str()), value, origin);
      if (!r) return r;
    }
  }
  return unit{};
}

result<unit> apply_env(server_config& c, char** env) {
  for (; env && *env; ++env) {
    std::string kv = *env;
    if (kv.rfind("PARLEY_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(7, eq - 7), value = kv.substr(eq + 1);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto us = name.find('_');
    if (us == std::string::npos) continue;
    std::string section = name.substr(0, us), key = name.substr(us + 1);
    if (!find_def(section, key)) continue;  // other PARLEY_* variables are not ours (PARLEY_BIN)
    auto r = apply_setting(c, section, key, value, "environment PARLEY_" + kv.substr(7, eq - 7));
    if (!r) return r;
  }
  return unit{};
}

result<unit> validate(const server_config& c) {
  auto bad = [](const std::string& what) { return config_error("config", what); };
  if (c.port < 0 || c.port > 65535) return bad("server.port must be 0 to 65535");
  if (c.threads < 0 || c.threads > 256) return bad("server.threads must be 0 to 256");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error" && c.log_level != "off")
    return bad("server.log_level must be trace, debug, info, warn, error or off");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    return bad("tls.cert_file and tls.key_file must be set together (or neither)");
  if (c.tls_min_version != "1.2" && c.tls_min_version != "1.3")
    return bad("tls.min_version must be \"1.2\" or \"1.3\"");
  if (c.tls_ciphers.empty()) return bad("tls.ciphers must not be empty");
  if (c.synchronous != "full" && c.synchronous != "normal")
    return bad("store.synchronous must be \"full\" or \"normal\"");
  if (c.backend != "sqlite" && c.backend != "postgres")
    return bad("store.backend must be \"sqlite\" or \"postgres\"");
  if (!valid_proxy_list(c.trusted_proxies))
    return bad("server.trusted_proxies must be a comma-separated list of IP addresses");
  if (!c.nats_url.empty() && c.backend != "postgres")
    return bad(
        "cluster.nats_url needs store.backend = \"postgres\": the nodes of a cluster "
        "share one database");
  if (c.node_id.size() > 64 ||
      !std::all_of(c.node_id.begin(), c.node_id.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
      }))
    return bad("cluster.node_id: letters, digits, '-', '_' and '.' only, at most 64");
  if (c.password_cost != "interactive" && c.password_cost != "moderate" &&
      c.password_cost != "minimum")
    return bad("auth.password_cost must be \"interactive\", \"moderate\" or \"minimum\"");
  if (auto e = validate_jwt(c); !e) return e;
  for (const auto& d : defs()) {
    if (auto f = std::get_if<std::int64_t server_config::*>(&d.field)) {
      if (c.**f < 0) return bad(std::string(d.section) + "." + d.key + " must not be negative");
    }
  }
  if (c.readers < 1) return bad("store.readers must be at least 1");
  if (c.token_ttl_s < 1) return bad("auth.token_ttl_s must be at least 1");
  if (c.cache_events_per_conv < 0 || c.cache_events_per_conv > 100000)
    return bad("store.cache_events_per_conv must be 0..100000");
  if (c.cache_max_bytes < 0) return bad("store.cache_max_bytes must be at least 0");
  if (c.max_batch < 1) return bad("store.max_batch must be at least 1");
  if (c.search_index_ms < 1 || c.search_index_ms > 60000)
    return bad("store.search_index_ms must be 1..60000");
  if (c.checkpoint_pages < 0 || c.checkpoint_pages > 1000000)
    return bad("store.checkpoint_pages must be 0..1000000");
  if (c.max_frame_bytes > c.max_frame_hard_bytes)
    return bad("limits.max_frame_bytes must not exceed limits.max_frame_hard_bytes");
  if (c.upload_gc_s < 1) return bad("store.upload_gc_s must be at least 1");
  if (c.max_upload_bytes < 1) return bad("limits.max_upload_bytes must be at least 1");
  if (c.max_attachments < 1 || c.max_attachments > 100)
    return bad("limits.max_attachments must be 1..100");
  if (c.history_page_max < 1) return bad("limits.history_page_max must be at least 1");
  if (c.edit_window_s < 0 || c.edit_window_s > 100LL * 365 * 24 * 3600)
    return bad("limits.edit_window_s must be 0..3153600000");
  if (c.group_max_members < 2) return bad("limits.group_max_members must be at least 2");
  if (c.presence_flush_ms < 10 || c.presence_flush_ms > 60000)
    return bad("presence.flush_ms must be 10..60000");
  if (c.receipts_flush_ms < 10 || c.receipts_flush_ms > 60000)
    return bad("presence.receipts_flush_ms must be 10..60000");
  if (c.presence_idle_s < 1) return bad("presence.idle_s must be at least 1");
  if (c.rate_enabled != "on" && c.rate_enabled != "off")
    return bad("rate.enabled must be \"on\" or \"off\"");
  for (auto v :
       {c.rate_connection_per_s, c.rate_write_per_s, c.rate_typing_per_s, c.rate_search_per_s,
        c.rate_upload_per_min, c.rate_login_per_min, c.rate_auth_address_per_min})
    if (v < 1) return bad("rate: every rate must be at least 1 (use rate.enabled = \"off\")");
  for (auto v :
       {c.rate_connection_burst, c.rate_write_burst, c.rate_typing_burst, c.rate_search_burst,
        c.rate_upload_burst, c.rate_login_burst, c.rate_auth_address_burst})
    if (v < 1) return bad("rate: every burst must be at least 1");
  if (c.permessage_deflate != "on" && c.permessage_deflate != "off")
    return bad("websocket.permessage_deflate must be \"on\" or \"off\"");
  if (c.deflate_level < 1 || c.deflate_level > 9)
    return bad("websocket.deflate_level must be 1..9");
  if (c.heartbeat_timeout_ms < 200)
    return bad("websocket.heartbeat_timeout_ms must be at least 200");
  return unit{};
}

}  // namespace parley
