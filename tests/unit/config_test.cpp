// Server configuration: defaults, TOML, PARLEY_* environment variables, validation, and
// the committed config/parley.toml (which must be exactly `parley config`'s output).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "server/config.hpp"

namespace parley {
namespace {

// Every field, so that tests can compare whole configurations.
std::string dump(const server_config& c) {
  std::ostringstream o;
  o << c.host << '|' << c.port << '|' << c.data_dir << '|' << c.threads << '|' << c.log_level << '|'
    << c.synchronous << '|' << c.readers << '|' << c.max_batch << '|' << c.queue_limit << '|'
    << c.token_ttl_s << '|' << c.password_cost << '|' << c.max_frame_bytes << '|'
    << c.max_frame_hard_bytes << '|' << c.max_text_bytes << '|' << c.max_title_bytes << '|'
    << c.history_page_max << '|' << c.group_max_members << '|' << c.outbound_queue_bytes << '|'
    << c.max_inflight_requests << '|' << c.max_http_body_bytes << '|' << c.replay_batch << '|'
    << c.handshake_timeout_ms << '|' << c.auth_timeout_ms << '|' << c.heartbeat_timeout_ms << '|'
    << c.shutdown_grace_ms;
  return o.str();
}

// A NULL-terminated environ array over the given strings.
class fake_env {
 public:
  fake_env(std::initializer_list<std::string> vars) : store_(vars) {
    for (auto& s : store_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  char** get() { return ptrs_.data(); }

 private:
  std::vector<std::string> store_;
  std::vector<char*> ptrs_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Config, DefaultsMatchTheDocumentedLimits) {
  server_config c;
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.synchronous, "full");
  EXPECT_EQ(c.token_ttl_s, 30 * 24 * 3600);
  EXPECT_EQ(c.password_cost, "interactive");
  // docs/protocol.md, "Limits" and "Heartbeats".
  EXPECT_EQ(c.max_frame_bytes, 64 * 1024);
  EXPECT_EQ(c.max_frame_hard_bytes, 1024 * 1024);
  EXPECT_EQ(c.max_text_bytes, 16384);
  EXPECT_EQ(c.max_title_bytes, 200);
  EXPECT_EQ(c.history_page_max, 200);
  EXPECT_EQ(c.group_max_members, 1000);
  EXPECT_EQ(c.max_inflight_requests, 256);
  EXPECT_EQ(c.queue_limit, 65536);
  EXPECT_EQ(c.outbound_queue_bytes, 4 * 1024 * 1024);
  EXPECT_EQ(c.max_http_body_bytes, 64 * 1024);
  EXPECT_EQ(c.auth_timeout_ms, 10000);
  EXPECT_EQ(c.heartbeat_timeout_ms, 30000);
  EXPECT_TRUE(validate(c));
}

TEST(Config, EveryOptionIsDocumentedWithItsDefault) {
  auto opts = config_options();
  ASSERT_FALSE(opts.empty());
  auto text = default_config_toml();
  std::set<std::string> seen;
  for (const auto& o : opts) {
    SCOPED_TRACE(o.section + "." + o.key);
    EXPECT_TRUE(seen.insert(o.section + "." + o.key).second) << "listed twice";
    EXPECT_FALSE(o.description.empty());
    EXPECT_TRUE(contains(text, "\n" + o.key + " = " + o.default_value + "\n"));
    EXPECT_TRUE(contains(text, "# " + o.description + "\n" + o.key + " = "));
    // The default, given back as a setting, is accepted.
    server_config c;
    auto v = o.default_value;
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    EXPECT_TRUE(apply_setting(c, o.section, o.key, v, "test"));
    EXPECT_EQ(dump(c), dump(server_config{}));
  }
  EXPECT_TRUE(contains(text, "[server]\n"));
  EXPECT_TRUE(contains(text, "[store]\n"));
  EXPECT_TRUE(contains(text, "[auth]\n"));
  EXPECT_TRUE(contains(text, "[limits]\n"));
  EXPECT_TRUE(contains(text, "[websocket]\n"));
}

TEST(Config, DefaultTomlReadsBackAsTheDefaults) {
  server_config c;
  c.host = "0.0.0.0";
  c.port = 1;
  c.synchronous = "normal";
  c.max_batch = 7;
  c.shutdown_grace_ms = 3;
  auto r = apply_toml(c, default_config_toml(), "default");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(dump(c), dump(server_config{}));
}

TEST(Config, CommittedConfigFileIsTheGeneratedDefault) {
  auto path =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "config" / "parley.toml";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << path
                  << "; regenerate it with `parley config > config/parley.toml`";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), default_config_toml())
      << "config/parley.toml is stale; regenerate it with `parley config > config/parley.toml`";
}

TEST(Config, TomlOverridesDefaults) {
  server_config c;
  auto r = apply_toml(c,
                      "# comment\n"
                      "[server]\nhost = \"0.0.0.0\"\nport = 9090\nlog_level = \"debug\"\n"
                      "[store]\nsynchronous = \"normal\"\nreaders = 4\n"
                      "[limits]\nmax_text_bytes = 100\n",
                      "parley.toml");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.synchronous, "normal");
  EXPECT_EQ(c.readers, 4);
  EXPECT_EQ(c.max_text_bytes, 100);
  // Untouched options keep their defaults.
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.max_title_bytes, 200);
  EXPECT_TRUE(apply_toml(c, "", "empty.toml"));
  EXPECT_EQ(c.port, 9090);
}

TEST(Config, EnvironmentOverridesToml) {
  server_config c;
  ASSERT_TRUE(apply_toml(c, "[server]\nport = 7000\nhost = \"10.0.0.1\"\n[store]\nreaders = 3\n",
                         "f.toml"));
  fake_env env{"HOME=/root",
               "PARLEY_SERVER_PORT=9000",
               "PARLEY_STORE_SYNCHRONOUS=normal",
               "PARLEY_AUTH_TOKEN_TTL_S=1",
               "PARLEY_WEBSOCKET_AUTH_TIMEOUT_MS=500",
               "PARLEY_BIN=/usr/bin/parley",  // not an option: ignored
               "PARLEY_X=1",
               "parley_server_host=lowercase-is-not-ours"};
  auto r = apply_env(c, env.get());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.synchronous, "normal");
  EXPECT_EQ(c.token_ttl_s, 1);
  EXPECT_EQ(c.auth_timeout_ms, 500);
  EXPECT_EQ(c.host, "10.0.0.1");  // from the file, not overridden
  EXPECT_EQ(c.readers, 3);

  EXPECT_TRUE(apply_env(c, nullptr));
  fake_env empty{};
  EXPECT_TRUE(apply_env(c, empty.get()));
  EXPECT_EQ(c.port, 9000);
}

TEST(Config, BadEnvironmentValueNamesTheVariable) {
  server_config c;
  fake_env env{"PARLEY_SERVER_PORT=eighty"};
  auto r = apply_env(c, env.get());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid);
  EXPECT_TRUE(contains(r.err().message, "PARLEY_SERVER_PORT")) << r.err().message;
  EXPECT_TRUE(contains(r.err().message, "server.port must be an integer")) << r.err().message;
  EXPECT_EQ(c.port, 8080);
}

TEST(Config, UnknownOptionsAreErrors) {
  server_config c;
  auto r = apply_toml(c, "[server]\nprot = 9000\n", "typo.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid);
  EXPECT_TRUE(contains(r.err().message, "typo.toml")) << r.err().message;
  EXPECT_TRUE(contains(r.err().message, "unknown option server.prot")) << r.err().message;

  r = apply_toml(c, "[sever]\nport = 9000\n", "typo.toml");
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.err().message, "unknown option sever.port")) << r.err().message;

  r = apply_toml(c, "port = 9000\n", "flat.toml");
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.err().message, "port must be a [section]")) << r.err().message;

  auto s = apply_setting(c, "limits", "nope", "1", "--set limits.nope=1");
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.err().message, "--set limits.nope=1: unknown option limits.nope"))
      << s.err().message;
}

TEST(Config, WrongTypesAreErrors) {
  struct bad {
    const char* toml;
    const char* expect;
  };
  for (const auto& b : std::vector<bad>{
           {"[server]\nport = \"eighty\"\n", "server.port must be an integer"},
           {"[server]\nport = \"8080\"\n", "server.port must be an integer"},
           {"[server]\nport = true\n", "server.port must be an integer"},
           {"[server]\nport = 80.5\n", "server.port must be an integer"},
           {"[server]\nport = [80]\n", "server.port must be an integer"},
           {"[server]\nhost = { a = 1 }\n", "server.host must be a string"},
           {"[server]\nhost = 5\n", "server.host must be a string"},
           {"[limits]\nmax_text_bytes = \"\"\n", "limits.max_text_bytes must be an integer"},
       }) {
    SCOPED_TRACE(b.toml);
    server_config c;
    auto r = apply_toml(c, b.toml, "bad.toml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::invalid);
    EXPECT_TRUE(contains(r.err().message, "bad.toml")) << r.err().message;
    EXPECT_TRUE(contains(r.err().message, b.expect)) << r.err().message;
  }
  server_config c;
  EXPECT_FALSE(apply_setting(c, "server", "port", "", "--port"));
  EXPECT_FALSE(apply_setting(c, "server", "port", "12ab", "--port"));
  EXPECT_FALSE(apply_setting(c, "server", "port", "99999999999999999999999", "--port"));
  EXPECT_EQ(c.port, 8080);
  EXPECT_TRUE(apply_setting(c, "server", "port", "-1", "--port"));  // parsed; validate() rejects
  EXPECT_EQ(c.port, -1);
  EXPECT_FALSE(validate(c));
}

TEST(Config, TomlSyntaxErrorsGiveTheLine) {
  server_config c;
  auto r = apply_toml(c, "[server]\nport = 1\nhost = \n", "broken.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid);
  EXPECT_TRUE(contains(r.err().message, "broken.toml")) << r.err().message;
  EXPECT_TRUE(contains(r.err().message, "line 3")) << r.err().message;
}

TEST(Config, ValidateRejectsBadValues) {
  struct bad {
    std::function<void(server_config&)> set;
    const char* expect;
  };
  std::vector<bad> cases = {
      {[](server_config& c) { c.port = 65536; }, "server.port"},
      {[](server_config& c) { c.port = -1; }, "server.port"},
      {[](server_config& c) { c.threads = 257; }, "server.threads"},
      {[](server_config& c) { c.synchronous = "off"; }, "store.synchronous"},
      {[](server_config& c) { c.password_cost = "low"; }, "auth.password_cost"},
      {[](server_config& c) { c.readers = 0; }, "store.readers"},
      {[](server_config& c) { c.max_batch = 0; }, "store.max_batch"},
      {[](server_config& c) { c.queue_limit = -5; }, "store.queue_limit"},
      {[](server_config& c) { c.token_ttl_s = 0; }, "auth.token_ttl_s"},
      {[](server_config& c) { c.max_text_bytes = -1; }, "limits.max_text_bytes"},
      {[](server_config& c) { c.max_frame_bytes = c.max_frame_hard_bytes + 1; },
       "limits.max_frame_bytes"},
      {[](server_config& c) { c.history_page_max = 0; }, "limits.history_page_max"},
      {[](server_config& c) { c.group_max_members = 1; }, "limits.group_max_members"},
      {[](server_config& c) { c.heartbeat_timeout_ms = 199; }, "websocket.heartbeat_timeout_ms"},
      {[](server_config& c) { c.shutdown_grace_ms = -1; }, "websocket.shutdown_grace_ms"},
  };
  for (const auto& b : cases) {
    SCOPED_TRACE(b.expect);
    server_config c;
    b.set(c);
    auto r = validate(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::invalid);
    EXPECT_TRUE(contains(r.err().message, b.expect)) << r.err().message;
  }
  // The edges that are allowed.
  server_config c;
  c.port = 0;
  c.threads = 256;
  c.synchronous = "normal";
  c.password_cost = "minimum";
  c.max_frame_bytes = c.max_frame_hard_bytes;
  c.group_max_members = 2;
  c.heartbeat_timeout_ms = 200;
  EXPECT_TRUE(validate(c));
  c.port = 65535;
  c.password_cost = "moderate";
  EXPECT_TRUE(validate(c));
}

TEST(Config, ValidateRejectsUnknownLogLevels) {
  // server.log_level is documented as "trace, debug, info, warn, error or off"; anything
  // else is currently accepted and silently turns logging off (spdlog maps unknown names
  // to `off`).
  for (const char* good : {"trace", "debug", "info", "warn", "error", "off"}) {
    server_config c;
    c.log_level = good;
    EXPECT_TRUE(validate(c)) << good;
  }
  for (const char* bad : {"verbose", "inf", "INFO", ""}) {
    server_config c;
    c.log_level = bad;
    auto r = validate(c);
    EXPECT_FALSE(r) << "log_level \"" << bad << "\" was accepted";
    if (!r) {
      EXPECT_TRUE(contains(r.err().message, "server.log_level")) << r.err().message;
    }
  }
}

}  // namespace
}  // namespace parley
