// Server configuration: one table of options (section, key, default, description) read
// from a TOML file, then PARLEY_<SECTION>_<KEY> environment variables, then command-line
// flags, each overriding the one before. `parley config` prints the table as a
// documented TOML file (config/parley.toml is that output, checked by a test).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace parley {

struct server_config {
  // [server]
  std::string host = "127.0.0.1";
  std::int64_t port = 8080;
  std::string data_dir = "./data";
  std::int64_t threads = 0;
  std::string log_level = "info";
  std::string allowed_origins;
  std::string trusted_proxies;  // comma-separated IP addresses
  // [store]
  std::string backend = "sqlite";
  std::string postgres_url;  // may hold a password: never logged or printed
  std::string synchronous = "full";
  std::int64_t readers = 2;
  std::int64_t max_batch = 1024;
  std::int64_t queue_limit = 65536;
  std::int64_t search_index_ms = 200;
  std::int64_t checkpoint_pages = 10000;
  std::string uploads_dir;  // empty: <data_dir>/uploads
  std::int64_t upload_gc_s = 3600;
  std::int64_t cache_events_per_conv = 256;
  std::int64_t cache_max_bytes = 64LL << 20;
  // [cluster]
  std::string nats_url;  // empty: a single node (in-process bus); may hold credentials
  std::string node_id;   // empty: <hostname>-<pid>
  // [auth]
  std::int64_t token_ttl_s = 30LL * 24 * 3600;
  std::string password_cost = "interactive";
  // [jwt] signed bearer tokens from an external auth service (server/signed_tokens.hpp)
  std::string jwt_enabled = "off";
  std::string jwt_algorithm = "EdDSA";
  std::string jwt_public_key;
  std::string jwt_key_file;
  std::string jwt_secret_env;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::int64_t jwt_leeway_s = 60;
  std::string jwt_auto_create = "off";
  // [limits]
  std::int64_t max_frame_bytes = 65536;
  std::int64_t max_frame_hard_bytes = 1048576;
  std::int64_t max_text_bytes = 16384;
  std::int64_t max_title_bytes = 200;
  std::int64_t history_page_max = 200;
  std::int64_t edit_window_s = 0;
  std::int64_t group_max_members = 1000;
  std::int64_t outbound_queue_bytes = 4194304;
  std::int64_t max_inflight_requests = 256;
  std::int64_t max_http_body_bytes = 65536;
  std::int64_t max_upload_bytes = 25LL << 20;
  std::int64_t upload_grace_s = 86400;
  std::int64_t max_attachments = 10;
  std::int64_t max_connections_per_address = 2000;
  std::int64_t max_connections_per_user = 100;
  std::int64_t replay_batch = 512;
  // [websocket]
  std::int64_t handshake_timeout_ms = 10000;
  std::int64_t auth_timeout_ms = 10000;
  std::int64_t heartbeat_timeout_ms = 30000;
  std::int64_t shutdown_grace_ms = 2000;
  std::string permessage_deflate = "on";
  std::int64_t deflate_min_bytes = 256;
  std::int64_t deflate_level = 1;
  // [tls]
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_min_version = "1.2";
  std::string tls_ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // [rate]
  std::string rate_enabled = "on";
  std::int64_t rate_connection_per_s = 100;
  std::int64_t rate_connection_burst = 500;
  std::int64_t rate_write_per_s = 20;
  std::int64_t rate_write_burst = 300;
  std::int64_t rate_typing_per_s = 5;
  std::int64_t rate_typing_burst = 20;
  std::int64_t rate_search_per_s = 5;
  std::int64_t rate_search_burst = 20;
  std::int64_t rate_upload_per_min = 60;
  std::int64_t rate_upload_burst = 20;
  std::int64_t rate_login_per_min = 10;
  std::int64_t rate_login_burst = 10;
  std::int64_t rate_auth_address_per_min = 60;
  std::int64_t rate_auth_address_burst = 60;
  std::int64_t rate_abuse_refusals = 100;
  // [presence]
  std::int64_t presence_flush_ms = 1000;
  std::int64_t presence_idle_s = 300;
  std::int64_t receipts_flush_ms = 1000;
  // [web]
  std::string web_dir;  // empty: no web app
};

// One documented option. Exposed for `parley config` and the docs test.
struct option_info {
  std::string section, key, default_value, description;
};
std::vector<option_info> config_options();

// Renders every option with its default and description as a TOML document.
std::string default_config_toml();

// Applies a TOML document (errors name the file position).
result<unit> apply_toml(server_config& c, const std::string& toml_text, const std::string& origin);
// Applies PARLEY_* variables from `environ`.
result<unit> apply_env(server_config& c, char** environ_vars);
// Applies one "section.key=value" assignment (from --set or a dedicated flag).
result<unit> apply_setting(server_config& c, const std::string& section, const std::string& key,
                           const std::string& value, const std::string& origin);
// Cross-field checks (ranges, enumerations).
result<unit> validate(const server_config& c);

}  // namespace parley
