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
  bool activity = false;            // also who is typing and contacts' presence
};

int cmd_register(const globals& g, const login_args& a);
int cmd_login(const globals& g, const login_args& a);
int cmd_logout(const globals& g, bool forget);
int cmd_status(const globals& g);
int cmd_conversations(const globals& g);
int cmd_create(const globals& g, const create_args& a);
// `files` are uploaded first and attached (named by their base names).
int cmd_send(const globals& g, std::int64_t conv, const std::vector<std::string>& words,
             std::int64_t reply_to = 0, std::int64_t thread = 0,
             const std::vector<std::string>& files = {});
// Attachments (docs/protocol.md, "Attachments"): upload prints the upload's id; download
// writes it to `out` (default: the id), continuing an interrupted download.
int cmd_upload(const globals& g, const std::string& path);
// Receipts, typing, presence and settings (docs/protocol.md).
int cmd_typing(const globals& g, std::int64_t conv, bool stop);
int cmd_receipts(const globals& g, std::int64_t conv, std::int64_t thread);
int cmd_presence(const globals& g);
int cmd_settings(const globals& g, std::optional<bool> private_receipts,
                 std::optional<bool> invisible);
int cmd_download(const globals& g, const std::string& id, const std::string& out);
int cmd_history(const globals& g, const history_args& a);
int cmd_tail(const globals& g, const tail_args& a);

// Rich messages (docs/protocol.md, "Messages").
struct page_args {
  std::int64_t conv = 0;
  std::int64_t thread = 0;  // messages: 0; thread: the root
  std::optional<std::int64_t> before, after, limit;
};
struct search_args {
  std::vector<std::string> words;
  std::optional<std::int64_t> conv, limit;
  std::optional<std::string> from;  // sender handle
};
int cmd_edit(const globals& g, std::int64_t conv, std::int64_t msg,
             const std::vector<std::string>& words);
int cmd_delete(const globals& g, std::int64_t conv, std::int64_t msg);
int cmd_react(const globals& g, std::int64_t conv, std::int64_t msg, const std::string& emoji,
              bool add);
int cmd_messages(const globals& g, const page_args& a);
int cmd_edits(const globals& g, std::int64_t conv, std::int64_t msg);
int cmd_search(const globals& g, const search_args& a);
int cmd_read(const globals& g, std::int64_t conv, std::int64_t seq, std::int64_t thread);
int cmd_follow(const globals& g, std::int64_t conv, std::int64_t root, bool on);
int cmd_threads(const globals& g, std::optional<std::int64_t> conv);

}  // namespace parley::cli
