// The parley command: `parley serve` runs the server, `parley config` prints the
// documented default configuration, `parley prune` drops old history (offline).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include "core/crypto.hpp"
#include "server/config.hpp"
#include "server/server.hpp"
#include "store/sqlite/sqlite_store.hpp"

extern char** environ;

namespace {

int fail(const std::string& msg) {
  std::cerr << "parley: " << msg << "\n";
  return 2;
}

parley::result<parley::server_config> load_config(
    const std::string& path, const std::vector<std::string>& sets,
    const std::vector<std::pair<std::string, std::string>>& flags) {
  parley::server_config c;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in)
      return parley::make_error(parley::errc::invalid, "cannot read config file " + path, "config");
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = parley::apply_toml(c, ss.str(), path);
    if (!r) return r.err();
  }
  if (auto r = parley::apply_env(c, environ); !r) return r.err();
  for (const auto& [key, value] : flags) {
    auto dot = key.find('.');
    if (auto r =
            parley::apply_setting(c, key.substr(0, dot), key.substr(dot + 1), value, "--" + key);
        !r)
      return r.err();
  }
  for (const auto& s : sets) {
    auto eq = s.find('=');
    auto dot = s.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq)
      return parley::make_error(parley::errc::invalid, "--set takes section.key=value: " + s,
                                "config");
    if (auto r = parley::apply_setting(c, s.substr(0, dot), s.substr(dot + 1, eq - dot - 1),
                                       s.substr(eq + 1), "--set " + s);
        !r)
      return r.err();
  }
  if (auto r = parley::validate(c); !r) return r.err();
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parley: a self-hosted real-time messaging server"};
  app.require_subcommand(1);

  auto* serve = app.add_subcommand(
      "serve", "Run the server (WebSocket, REST) on its database (store.backend)");
  std::string config_path;
  std::vector<std::string> sets;
  std::string host, port, data_dir, threads, log_level, synchronous;
  serve->add_option("-c,--config", config_path, "TOML configuration file (see `parley config`)");
  serve->add_option("--host", host, "server.host: address to listen on (default 127.0.0.1)");
  serve->add_option("-p,--port", port, "server.port: TCP port, 0 for any (default 8080)");
  serve->add_option("-d,--data-dir", data_dir, "server.data_dir: data directory (default ./data)");
  serve->add_option("--threads", threads, "server.threads: I/O threads, 0 = one per core");
  serve->add_option("--log-level", log_level, "server.log_level: trace..off (default info)");
  serve->add_option("--synchronous", synchronous,
                    "store.synchronous: full or normal (default full)");
  serve->add_option("--set", sets, "Any option as section.key=value (repeatable)");

  auto* config = app.add_subcommand("config", "Print the default configuration as documented TOML");

  auto* prune = app.add_subcommand(
      "prune", "Delete a conversation's events before a seq (run while the server is stopped)");
  std::string prune_dir = "./data";
  std::int64_t prune_conv = 0, prune_before = 0;
  prune->add_option("-d,--data-dir", prune_dir, "Data directory")->capture_default_str();
  prune->add_option("--conv", prune_conv, "Conversation id")->required();
  prune->add_option("--before", prune_before, "Delete events with seq below this")->required();

  CLI11_PARSE(app, argc, argv);

  if (config->parsed()) {
    std::cout << parley::default_config_toml();
    return 0;
  }
  parley::init_crypto();

  if (prune->parsed()) {
    try {
      parley::sqlite::sqlite_options so;
      so.path = (std::filesystem::path(prune_dir) / "parley.db").string();
      parley::sqlite::sqlite_store st(so);
      std::promise<parley::seq_t> done;
      st.write(
          [&](parley::write_txn& t) -> parley::error {
            if (!t.find_conversation(prune_conv))
              return parley::make_error(parley::errc::not_found, "no such conversation");
            done.set_value(t.prune_before(prune_conv, prune_before));
            return {parley::errc::ok, {}, {}, 0};
          },
          [&](const parley::error& e) {
            if (e.code != parley::errc::ok) std::cerr << "parley prune: " << e.message << "\n";
          });
      st.stop();
      auto f = done.get_future();
      if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return 1;
      std::cout << "conversation " << prune_conv << " now starts at seq " << f.get() << "\n";
      return 0;
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }

  std::vector<std::pair<std::string, std::string>> flags;
  if (!host.empty()) flags.emplace_back("server.host", host);
  if (!port.empty()) flags.emplace_back("server.port", port);
  if (!data_dir.empty()) flags.emplace_back("server.data_dir", data_dir);
  if (!threads.empty()) flags.emplace_back("server.threads", threads);
  if (!log_level.empty()) flags.emplace_back("server.log_level", log_level);
  if (!synchronous.empty()) flags.emplace_back("store.synchronous", synchronous);
  auto cfg = load_config(config_path, sets, flags);
  if (!cfg) return fail(cfg.err().message);

  auto logger = spdlog::stderr_color_mt("parley");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z level=%l %v");
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  try {
    parley::server s(*cfg);
    return s.run();
  } catch (const std::exception& e) {
    spdlog::error("event=fatal what=\"{}\"", e.what());
    return fail(e.what());
  }
}
