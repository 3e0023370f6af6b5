// parley-cli: a terminal client for Parley, built on the C++ SDK (docs/sdk.md).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace {

// Conversation ids and seqs: positive integers.
const CLI::Validator kPositive(
    [](std::string& v) -> std::string {
      bool digits = !v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == v.npos;
      return digits && std::stoll(v) > 0 ? "" : "must be a positive integer, not " + v;
    },
    "POSITIVE");

const CLI::Validator kSeconds(
    [](std::string& v) -> std::string {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      return !v.empty() && *end == 0 && d > 0 && d < 1e9 ? "" : "must be a number of seconds > 0";
    },
    "SECONDS");

const char* kFooter = R"(
Exit codes:
  0  success
  1  the server refused the request; "error: CODE: ..." names the typed error
     (forbidden, not_found, invalid, too_large, conflict, rate_limited, internal)
  2  bad command line
  3  not logged in, or the credentials were rejected (unauthenticated)
  4  the server could not be reached or did not answer in time
  5  send: not acknowledged in time; the message stays queued and the next
     send or tail transmits it
  6  the config file or the local store could not be used

Files: the config file (--config, else $PARLEY_CLI_CONFIG, else
$XDG_CONFIG_HOME/parley/cli.json or ~/.config/parley/cli.json, mode 0600) holds
the server, handle and token; next to it, HANDLE@HOST-PORT.db is the SDK's local
store (the outbox of unsent messages and the positions `tail` resumes from).
Message text is printed as text: control characters are escaped (\n, \x1b, ...).
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace parley::cli;
  std::signal(SIGPIPE, SIG_IGN);

  globals g;
  CLI::App app{"parley-cli: chat on a Parley server from the terminal", "parley-cli"};
  app.set_version_flag("--version", "parley-cli 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.add_option("--server", g.server,
                 "Server as HOST:PORT (default: the config file's, else 127.0.0.1:8080)")
      ->envname("PARLEY_SERVER");
  app.add_option("--config", g.config_path, "Config file (default: see Files below)")
      ->envname("PARLEY_CLI_CONFIG");
  app.add_flag("--json", g.json, "Print JSON lines (one object per line) instead of text");
  app.add_option("--timeout", g.timeout_s, "Seconds to wait for the server (default 10)")
      ->check(kSeconds);
  app.add_option("--transport", g.transport,
                 "auto (WebSocket, falling back to SSE, then long polling), websocket, sse or "
                 "poll (default auto)")
      ->check(CLI::IsMember({"auto", "websocket", "sse", "poll"}))
      ->envname("PARLEY_TRANSPORT");

  login_args reg_args;
  std::string reg_password;
  auto* reg = app.add_subcommand("register", "Create an account, then log in (store the token)");
  reg->add_option("handle", reg_args.handle, "3-32 characters of a-z 0-9 _ . -")->required();
  auto* reg_pw = reg->add_option("--password", reg_password,
                                 "Password (default: prompt without echo, or a line of stdin)");
  reg->add_flag("--no-login", reg_args.no_login, "Only register; keep the stored credentials");

  login_args login_a;
  std::string login_password;
  auto* login = app.add_subcommand("login", "Log in and store the token in the config file");
  login->add_option("handle", login_a.handle, "Your handle")->required();
  auto* login_pw = login->add_option("--password", login_password,
                                     "Password (default: prompt without echo, or a line of stdin)");

  bool forget = false;
  auto* logout = app.add_subcommand("logout", "Revoke the stored token and remove it");
  logout->add_flag("--forget", forget, "Remove the token even if the server cannot be reached");

  auto* status = app.add_subcommand("status", "Show the config file, account and queued messages");

  auto* convs = app.add_subcommand("conversations", "List your conversations");
  convs->alias("convs");

  create_args create_a;
  std::string direct, group;
  auto* create = app.add_subcommand("create", "Create a direct conversation or a group");
  auto* direct_opt = create->add_option("--direct", direct, "Direct conversation with HANDLE");
  auto* group_opt = create->add_option("--group", group, "Group with this TITLE");
  auto* member_opt =
      create->add_option("--member", create_a.members, "Add HANDLE to the group (repeatable)");
  direct_opt->excludes(group_opt)->excludes(member_opt);

  std::int64_t send_conv = 0;
  std::vector<std::string> send_words;
  auto* send = app.add_subcommand(
      "send", "Send a message (queued durably; waits for the acknowledgement, prints the seq)");
  send->add_option("conv", send_conv, "Conversation id")->required()->check(kPositive);
  send->add_option("text", send_words,
                   "Message text; several words are joined by spaces; - reads stdin "
                   "(put -- before a text that starts with -); may be left out with --attach");
  std::vector<std::string> send_files;
  send->add_option("--attach", send_files, "Upload FILE and attach it (repeatable)")
      ->allow_extra_args(false);

  std::int64_t reply_to = 0, in_thread = 0;
  send->add_option("--reply-to", reply_to, "Quote the message with this seq")->check(kPositive);
  send->add_option("--thread", in_thread, "Reply in the thread of the message with this seq")
      ->check(kPositive);

  std::int64_t state_conv = 0, receipts_thread = 0;
  bool typing_stop = false;
  auto* typing = app.add_subcommand("typing", "Tell a conversation you are typing (for 5 s)");
  typing->add_option("conv", state_conv, "Conversation id")->required()->check(kPositive);
  typing->add_flag("--stop", typing_stop, "Stopped typing");
  auto* receipts = app.add_subcommand("receipts", "Members' delivered and read positions");
  receipts->add_option("conv", state_conv, "Conversation id")->required()->check(kPositive);
  receipts->add_option("--thread", receipts_thread, "Read positions in this thread")
      ->check(kPositive);
  auto* presence = app.add_subcommand("presence", "Your contacts: online, away or offline");
  std::string private_receipts, invisible;
  auto* settings =
      app.add_subcommand("settings", "Show or change private receipts and invisibility");
  settings
      ->add_option("--private-receipts", private_receipts, "on: others do not see what you read")
      ->check(CLI::IsMember({"on", "off"}));
  settings->add_option("--invisible", invisible, "on: you look offline to everyone else")
      ->check(CLI::IsMember({"on", "off"}));

  std::string upload_path, download_id, download_out;
  auto* upload = app.add_subcommand("upload", "Upload a file; prints its id (to attach or share)");
  upload->add_option("file", upload_path, "The file")->required();
  auto* download = app.add_subcommand(
      "download", "Download an attachment (continues an interrupted download; checks its hash)");
  download->add_option("id", download_id, "The upload's id")->required();
  download->add_option("out", download_out, "Where to write it (default: the id)");

  std::int64_t msg_conv = 0, msg_seq = 0;
  std::vector<std::string> edit_words;
  auto* edit = app.add_subcommand("edit", "Edit one of your messages");
  edit->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
  edit->add_option("msg", msg_seq, "The message's seq")->required()->check(kPositive);
  edit->add_option("text", edit_words, "The new text")->required();
  auto* del = app.add_subcommand("delete", "Delete a message (yours, or any as a group admin)");
  del->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
  del->add_option("msg", msg_seq, "The message's seq")->required()->check(kPositive);
  std::string emoji;
  auto* react = app.add_subcommand("react", "React to a message with an emoji");
  auto* unreact = app.add_subcommand("unreact", "Take a reaction back");
  for (auto* c : {react, unreact}) {
    c->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
    c->add_option("msg", msg_seq, "The message's seq")->required()->check(kPositive);
    c->add_option("emoji", emoji, "One emoji")->required();
  }
  auto* edits = app.add_subcommand("edits", "Show a message's earlier versions");
  edits->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
  edits->add_option("msg", msg_seq, "The message's seq")->required()->check(kPositive);
  page_args page_a;
  std::int64_t pbefore = 0, pafter = 0, plimit = 0;
  auto* messages = app.add_subcommand(
      "messages", "Show a conversation's messages as they are now (edits, reactions, replies)");
  auto* thread = app.add_subcommand("thread", "Show a thread: its root and replies");
  std::vector<CLI::Option*> pbefore_opts, pafter_opts, plimit_opts;
  for (auto* c : {messages, thread}) {
    c->add_option("conv", page_a.conv, "Conversation id")->required()->check(kPositive);
    if (c == thread)
      c->add_option("thread", page_a.thread, "The root message's seq")
          ->required()
          ->check(kPositive);
    auto* b = c->add_option("--before", pbefore, "Messages before this seq");
    auto* af = c->add_option("--after", pafter, "Messages after this seq");
    b->excludes(af);
    pbefore_opts.push_back(b);
    pafter_opts.push_back(af);
    plimit_opts.push_back(c->add_option("--limit", plimit, "At most N")->check(kPositive));
  }
  search_args search_a;
  std::int64_t s_conv = 0, s_limit = 0;
  std::string s_from;
  auto* search = app.add_subcommand("search", "Find messages by their words");
  search->add_option("words", search_a.words, "What to look for")->required();
  auto* s_conv_opt =
      search->add_option("--conv", s_conv, "Only this conversation")->check(kPositive);
  auto* s_from_opt = search->add_option("--from", s_from, "Only messages by this HANDLE");
  auto* s_limit_opt = search->add_option("--limit", s_limit, "At most N (1-100)")->check(kPositive);
  std::int64_t read_seq = 0, read_thread = 0;
  auto* read = app.add_subcommand("read", "Mark a conversation (or thread) read up to a seq");
  read->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
  read->add_option("seq", read_seq, "Read up to this seq")->required()->check(kPositive);
  read->add_option("--thread", read_thread, "In this thread (its root's seq)")->check(kPositive);
  auto* follow = app.add_subcommand("follow", "Follow a thread");
  auto* unfollow = app.add_subcommand("unfollow", "Stop following a thread");
  for (auto* c : {follow, unfollow}) {
    c->add_option("conv", msg_conv, "Conversation id")->required()->check(kPositive);
    c->add_option("thread", msg_seq, "The root message's seq")->required()->check(kPositive);
  }
  std::int64_t threads_conv = 0;
  auto* threads = app.add_subcommand("threads", "List the threads you follow, with unread counts");
  auto* threads_conv_opt =
      threads->add_option("conv", threads_conv, "Only in this conversation")->check(kPositive);

  history_args hist_a;
  std::int64_t before = 0, after = 0, limit = 0;
  auto* history = app.add_subcommand("history", "Print a page of a conversation's events");
  history->add_option("conv", hist_a.conv, "Conversation id")->required()->check(kPositive);
  auto* before_opt =
      history->add_option("--before", before, "Events before this seq (scroll back)");
  auto* after_opt = history->add_option("--after", after, "Events after this seq (catch up)");
  before_opt->excludes(after_opt);
  auto* limit_opt =
      history->add_option("--limit", limit, "At most N events (server default 50, max 200)")
          ->check(kPositive);

  tail_args tail_a;
  auto* tail = app.add_subcommand(
      "tail",
      "Follow live events (all conversations, or the given ones), resuming where the last "
      "tail stopped; Ctrl-C ends it");
  tail->add_option("conv", tail_a.convs, "Conversation ids (default: all)")->check(kPositive);
  tail->add_option("--count", tail_a.count, "Exit after N events (exit 4 if --for ends first)");
  tail->add_option("--for", tail_a.for_s, "Exit after this many seconds")->check(kSeconds);
  tail->add_flag("--activity", tail_a.activity, "Also show who is typing and contacts' presence");

  app.footer(kFooter);  // after the subcommands, which would inherit it
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  try {
    if (*reg) {
      if (*reg_pw) reg_args.password = reg_password;
      return cmd_register(g, reg_args);
    }
    if (*login) {
      if (*login_pw) login_a.password = login_password;
      return cmd_login(g, login_a);
    }
    if (*logout) return cmd_logout(g, forget);
    if (*status) return cmd_status(g);
    if (*convs) return cmd_conversations(g);
    if (*create) {
      if (*direct_opt) create_a.direct = direct;
      if (*group_opt) create_a.group = group;
      if (!create_a.direct && !create_a.group)
        throw failure("invalid", "create needs --direct HANDLE or --group TITLE", exit_usage);
      return cmd_create(g, create_a);
    }
    if (*send) return cmd_send(g, send_conv, send_words, reply_to, in_thread, send_files);
    if (*upload) return cmd_upload(g, upload_path);
    if (*typing) return cmd_typing(g, state_conv, typing_stop);
    if (*receipts) return cmd_receipts(g, state_conv, receipts_thread);
    if (*presence) return cmd_presence(g);
    if (*settings) {
      auto flag = [](const std::string& v) {
        return v.empty() ? std::optional<bool>() : std::optional<bool>(v == "on");
      };
      return cmd_settings(g, flag(private_receipts), flag(invisible));
    }
    if (*download) return cmd_download(g, download_id, download_out);
    if (*edit) return cmd_edit(g, msg_conv, msg_seq, edit_words);
    if (*del) return cmd_delete(g, msg_conv, msg_seq);
    if (*react) return cmd_react(g, msg_conv, msg_seq, emoji, true);
    if (*unreact) return cmd_react(g, msg_conv, msg_seq, emoji, false);
    if (*edits) return cmd_edits(g, msg_conv, msg_seq);
    if (*messages || *thread) {
      std::size_t k = *messages ? 0 : 1;
      if (*messages) page_a.thread = 0;
      if (*pbefore_opts[k]) page_a.before = pbefore;
      if (*pafter_opts[k]) page_a.after = pafter;
      if (*plimit_opts[k]) page_a.limit = plimit;
      return cmd_messages(g, page_a);
    }
    if (*search) {
      if (*s_conv_opt) search_a.conv = s_conv;
      if (*s_from_opt) search_a.from = s_from;
      if (*s_limit_opt) search_a.limit = s_limit;
      return cmd_search(g, search_a);
    }
    if (*read) return cmd_read(g, msg_conv, read_seq, read_thread);
    if (*follow) return cmd_follow(g, msg_conv, msg_seq, true);
    if (*unfollow) return cmd_follow(g, msg_conv, msg_seq, false);
    if (*threads)
      return cmd_threads(
          g, *threads_conv_opt ? std::optional<std::int64_t>(threads_conv) : std::nullopt);
    if (*history) {
      if (*before_opt) hist_a.before = before;
      if (*after_opt) hist_a.after = after;
      if (*limit_opt) hist_a.limit = limit;
      return cmd_history(g, hist_a);
    }
    if (*tail) return cmd_tail(g, tail_a);
  } catch (const failure& f) {
    std::fprintf(stderr, "error: %s: %s\n", f.code.c_str(), escape_text(f.what()).c_str());
    return f.status;
  } catch (const output_closed&) {
    return exit_ok;  // stdout went away (a closed pipe); nothing left to say
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", escape_text(e.what()).c_str());
    return exit_refused;
  }
  return exit_usage;
}
