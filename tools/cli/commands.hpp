// parley-cli's subcommands. Each returns the exit code or throws failure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"

namespace parley::cli {

struct login_args {
  std::string handle;
  std::optional<std::string> password;
  bool no_login = false;  // register only
};

struct create_args {
  std::optional<std::string> direct;  // peer handle
  std::optional<std::string> group;   // title
  std::vector<std::string> members;
};

struct history_args {
  std::int64_t conv = 0;
  std::optional<std::int64_t> before, after;
  std::optional<std::int64_t> limit;
};

struct tail_args {
  std::vector<std::int64_t> convs;  // empty: all
  std::size_t count = 0;            // 0: unlimited
  double for_s = 0;                 // 0: until interrupted
};

int cmd_register(const globals& g, const login_args& a);
int cmd_login(const globals& g, const login_args& a);
int cmd_logout(const globals& g, bool forget);
int cmd_status(const globals& g);
int cmd_conversations(const globals& g);
int cmd_create(const globals& g, const create_args& a);
int cmd_send(const globals& g, std::int64_t conv, const std::vector<std::string>& words);
int cmd_history(const globals& g, const history_args& a);
int cmd_tail(const globals& g, const tail_args& a);

}  // namespace parley::cli
