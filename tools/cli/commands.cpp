#include "commands.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_set>

#include "config.hpp"
#include "format.hpp"
#include "http.hpp"
#include "parley/sdk/files.hpp"
#include "parley/sdk/local_store.hpp"
#include "password.hpp"
#include "session.hpp"

namespace parley::cli {

namespace json = boost::json;

namespace {

// In the store's key/value slot: set once the first tail seeded the positions.
const char* const kSeededKey = "cli.tail_seeded";

struct account {
  std::string config_path;
  credentials cred;
  endpoint server;
};

// The config file and the server to talk to: --server, else the config's, else the
// default. With a token, --server must name the server the token came from: a token is
// never sent anywhere else.
account load_account(const globals& g, bool need_token) {
  account a;
  a.config_path = resolve_config_path(g);
  a.cred = load_config(a.config_path);
  if (!g.server.empty()) {
    a.server = parse_server(g.server);
  } else if (!a.cred.server.empty()) {
    a.server = parse_server(a.cred.server);
  }
  if (!need_token) return a;
  if (a.cred.token.empty())
    throw failure("unauthenticated",
                  "not logged in (no token in " + a.config_path + "); run: parley-cli login HANDLE",
                  exit_auth);
  if (!g.server.empty() && !a.cred.server.empty() &&
      parse_server(a.cred.server).str() != a.server.str())
    throw failure("invalid",
                  "the stored token is for " + a.cred.server + ", not " + a.server.str() +
                      "; log in there first (or use another --config)",
                  exit_usage);
  return a;
}

clock::time_point deadline_after(const globals& g) {
  return clock::now() + g.timeout();
}

session_options options(const globals& g, const account& a, const std::string& store) {
  session_options o;
  o.server = a.server;
  o.token = a.cred.token;
  o.store_path = store;
  o.timeout = g.timeout();
  if (g.transport == "websocket")
    o.transports = {sdk::transport::websocket};
  else if (g.transport == "sse")
    o.transports = {sdk::transport::sse};
  else if (g.transport == "poll")
    o.transports = {sdk::transport::long_polling};
  return o;
}

std::string account_store(const account& a) {
  auto path = store_path_for(a.config_path, a.cred.handle, a.server);
  prepare_store_file(path);
  return path;
}

void note(const std::string& s) {
  std::fprintf(stderr, "%s\n", s.c_str());
}

std::string str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

const json::object& object_at(const json::object& o, const char* key) {
  static const json::object empty;
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : empty;
}

const json::array& array_at(const json::object& o, const char* key) {
  static const json::array empty;
  auto* v = o.if_contains(key);
  return v && v->is_array() ? v->as_array() : empty;
}

result<json::object> post(const globals& g, const endpoint& server, const std::string& target,
                          const json::object& body, const std::string& token = {}) {
  return http_json(server, "POST", target, body, token, g.timeout());
}

std::string describe_members(const json::object& conv, std::int64_t me) {
  std::string out;
  for (const auto& m : array_at(conv, "members")) {
    if (!m.is_object() || num(m.as_object(), "id") == me) continue;
    out += (out.empty() ? "" : ", ") + escape_text(str(m.as_object(), "handle"));
  }
  return out;
}

std::string describe_conversation(const json::object& c, std::int64_t me) {
  auto members = describe_members(c, me);
  if (str(c, "kind") == "direct") return "direct with " + members;
  return "group " + quoted(str(c, "title")) + (members.empty() ? "" : " with " + members);
}

int login_with(const globals& g, account& a, const std::string& handle,
               const std::string& password) {
  auto r = post(g, a.server, "/v1/login", {{"handle", handle}, {"password", password}});
  if (!r) throw from_error(r.err());
  const auto& o = r.value();
  const auto& user = object_at(o, "user");
  credentials c;
  c.server = a.server.str();
  c.handle = str(user, "handle");
  c.token = str(o, "token");
  c.user_id = num(user, "id");
  c.device = num(o, "device");
  c.expires_ms = num(o, "expires_ms");
  if (c.token.empty() || c.handle.empty())
    throw failure("internal", "the login reply has no token", exit_refused);
  save_config(a.config_path, c);
  // The previous token of this config file is replaced: revoke it (best effort).
  if (!a.cred.token.empty() && a.cred.token != c.token) {
    try {
      auto old = a.cred.server.empty() ? a.server : parse_server(a.cred.server);
      http_json(old, "POST", "/v1/logout", {}, a.cred.token,
                std::min(g.timeout(), std::chrono::milliseconds(3000)));
    } catch (const failure&) {
    }
  }
  if (g.json) {
    print_json({{"server", c.server},
                {"handle", c.handle},
                {"user_id", c.user_id},
                {"device", c.device},
                {"expires_ms", c.expires_ms},
                {"config", a.config_path}});
  } else {
    print_line("logged in as " + escape_text(c.handle) + " on " + c.server + " (device " +
               std::to_string(c.device) + ", token saved in " + escape_text(a.config_path) +
               ", valid until " + format_time(c.expires_ms) + ")");
  }
  a.cred = c;
  return exit_ok;
}

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) {
  g_interrupted = 1;
}

}  // namespace

int cmd_register(const globals& g, const login_args& args) {
  auto a = load_account(g, false);
  auto password = args.password ? *args.password : read_password("Password: ", true);
  auto r = post(g, a.server, "/v1/register", {{"handle", args.handle}, {"password", password}});
  if (!r) throw from_error(r.err());
  const auto& user = object_at(r.value(), "user");
  if (g.json) {
    print_json({{"registered", user}, {"server", a.server.str()}});
  } else {
    print_line("registered " + escape_text(str(user, "handle")) + " (user " +
               std::to_string(num(user, "id")) + ") on " + a.server.str());
  }
  if (args.no_login) return exit_ok;
  return login_with(g, a, args.handle, password);
}

int cmd_login(const globals& g, const login_args& args) {
  auto a = load_account(g, false);
  auto password = args.password ? *args.password : read_password("Password: ", false);
  return login_with(g, a, args.handle, password);
}

int cmd_logout(const globals& g, bool forget) {
  auto a = load_account(g, true);
  bool revoked = false;
  try {
    auto r = post(g, a.server, "/v1/logout", {}, a.cred.token);
    // unauthenticated: the token had already expired or been revoked.
    if (!r && r.err().code != errc::unauthenticated) throw from_error(r.err());
    revoked = true;
  } catch (const failure& f) {
    if (!forget)
      throw failure(f.code,
                    f.what() + std::string("; the token is kept (--forget drops it anyway)"),
                    f.status);
    note("warning: the token could not be revoked on the server (" + f.code + ": " + f.what() +
         "); it stays valid there until it expires");
  }
  auto c = a.cred;
  c.token.clear();
  save_config(a.config_path, c);
  std::size_t queued = 0;
  auto store = store_path_for(a.config_path, a.cred.handle, a.server);
  if (FILE* f = std::fopen(store.c_str(), "r")) {
    std::fclose(f);
    try {
      queued = sdk::local_store(store).pending_count();
    } catch (const std::exception&) {
    }
  }
  if (g.json) {
    print_json({{"logged_out", a.cred.handle}, {"revoked", revoked}, {"queued", queued}});
  } else {
    print_line("logged out " + escape_text(a.cred.handle) + " from " + a.server.str());
    if (queued > 0)
      note("note: " + std::to_string(queued) +
           " unsent message(s) stay queued; they are sent after the next login as " +
           escape_text(a.cred.handle));
  }
  return exit_ok;
}

int cmd_status(const globals& g) {
  auto a = load_account(g, false);
  std::string store;
  std::size_t queued = 0;
  if (!a.cred.handle.empty()) {
    store = store_path_for(a.config_path, a.cred.handle, a.server);
    if (FILE* f = std::fopen(store.c_str(), "r")) {
      std::fclose(f);
      queued = sdk::local_store(store).pending_count();
    }
  }
  bool in = !a.cred.token.empty();
  if (g.json) {
    json::object o{{"config", a.config_path}, {"server", a.server.str()}, {"handle", a.cred.handle},
                   {"logged_in", in},         {"store", store},           {"queued", queued}};
    if (in) {
      o["user_id"] = a.cred.user_id;
      o["device"] = a.cred.device;
      o["expires_ms"] = a.cred.expires_ms;
    }
    print_json(o);
    return exit_ok;
  }
  print_line("config:    " + escape_text(a.config_path));
  print_line("server:    " + a.server.str());
  if (a.cred.handle.empty()) {
    print_line("account:   none (parley-cli register HANDLE, or login HANDLE)");
    return exit_ok;
  }
  print_line("account:   " + escape_text(a.cred.handle) +
             (in ? " (user " + std::to_string(a.cred.user_id) + ", device " +
                       std::to_string(a.cred.device) + ", token valid until " +
                       format_time(a.cred.expires_ms) + ")"
                 : " (logged out)"));
  print_line("store:     " + escape_text(store) + " (" + std::to_string(queued) +
             " queued message(s))");
  return exit_ok;
}

int cmd_conversations(const globals& g) {
  auto a = load_account(g, true);
  session s(options(g, a, ":memory:"));
  auto dl = deadline_after(g);
  auto r = s.call("conv.list", {}, dl);
  const auto& convs = array_at(r, "conversations");
  if (g.json) {
    for (const auto& c : convs)
      if (c.is_object()) print_json(c.as_object());
    return exit_ok;
  }
  if (convs.empty()) {
    note("no conversations (parley-cli create --direct HANDLE, or --group TITLE)");
    return exit_ok;
  }
  struct row {
    std::string id, kind, role, last, title;
  };
  std::vector<row> rows{{"ID", "KIND", "ROLE", "LAST", "TITLE"}};
  for (const auto& v : convs) {
    if (!v.is_object()) continue;
    const auto& c = v.as_object();
    row rw{std::to_string(num(c, "id")), escape_text(str(c, "kind")),
           c.contains("left_seq") ? "left" : escape_text(str(c, "role")),
           std::to_string(num(c, "last_seq")), quoted(str(c, "title"))};
    if (str(c, "kind") == "direct") {
      // conv.list has no members: ask for the peer of a direct conversation.
      try {
        auto d = s.call("conv.get", {{"conv", num(c, "id")}}, deadline_after(g));
        rw.title = "with " + describe_members(object_at(d, "conversation"), a.cred.user_id);
      } catch (const failure&) {
        rw.title = "";
      }
    }
    rows.push_back(std::move(rw));
  }
  std::size_t w[4] = {0, 0, 0, 0};
  for (const auto& rw : rows) {
    w[0] = std::max(w[0], rw.id.size());
    w[1] = std::max(w[1], rw.kind.size());
    w[2] = std::max(w[2], rw.role.size());
    w[3] = std::max(w[3], rw.last.size());
  }
  for (const auto& rw : rows) {
    auto pad = [](const std::string& x, std::size_t n) {
      return x + std::string(n > x.size() ? n - x.size() : 0, ' ');
    };
    print_line(pad(rw.id, w[0]) + "  " + pad(rw.kind, w[1]) + "  " + pad(rw.role, w[2]) + "  " +
               pad(rw.last, w[3]) + "  " + rw.title);
  }
  return exit_ok;
}

int cmd_create(const globals& g, const create_args& args) {
  auto a = load_account(g, true);
  json::object req;
  if (args.direct) {
    req = {{"kind", "direct"}, {"peer", *args.direct}};
  } else {
    json::array ms;
    for (const auto& m : args.members) ms.emplace_back(m);
    req = {{"kind", "group"}, {"title", args.group.value_or("")}, {"members", std::move(ms)}};
  }
  session s(options(g, a, ":memory:"));
  auto r = s.call("conv.create", std::move(req), deadline_after(g));
  const auto& c = object_at(r, "conversation");
  if (g.json) {
    print_json(c);
  } else {
    print_line("conversation " + std::to_string(num(c, "id")) + ": " +
               describe_conversation(c, a.cred.user_id));
  }
  return exit_ok;
}

namespace {

sdk::file_endpoint file_endpoint_of(const globals& g, const account& a) {
  // Transfers get at least 10 minutes: --timeout is for waiting on the server.
  return {a.server.host, a.server.port, a.cred.token,
          std::max<std::chrono::milliseconds>(g.timeout(), std::chrono::minutes(10))};
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int cmd_upload(const globals& g, const std::string& path) {
  auto a = load_account(g, true);
  auto r = sdk::upload_file(file_endpoint_of(g, a), path);
  if (!r) throw from_error(r.err());
  const auto& u = r.value();
  if (g.json) {
    json::object o{{"id", u.id}, {"size", u.size}, {"type", u.type}};
    if (u.width > 0) o["width"] = u.width, o["height"] = u.height;
    print_json(o);
  } else {
    auto shown = u;
    shown.name = base_name(path);
    print_line("uploaded" + render_attachments({shown}));
  }
  return exit_ok;
}

int cmd_download(const globals& g, const std::string& id, const std::string& out) {
  auto a = load_account(g, true);
  std::string path = out.empty() ? id : out;
  auto r = sdk::download_file(file_endpoint_of(g, a), id, path);
  if (!r) throw from_error(r.err());
  if (g.json)
    print_json({{"id", id}, {"path", path}, {"size", r.value()}});
  else
    print_line("downloaded " + std::to_string(r.value()) + " bytes to " + escape_text(path));
  return exit_ok;
}

int cmd_send(const globals& g, std::int64_t conv, const std::vector<std::string>& words,
             std::int64_t reply_to, std::int64_t thread, const std::vector<std::string>& files) {
  std::string text;
  if (words.size() == 1 && words[0] == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (!text.empty() && text.back() == '\n') text.pop_back();
  } else {
    for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  }
  if (text.empty() && files.empty())
    throw failure("invalid", "the message text is empty", exit_usage);
  auto a = load_account(g, true);
  // Uploaded first: the queued message refers to them by id.
  std::vector<sdk::attachment> atts;
  for (const auto& f : files) {
    auto up = sdk::upload_file(file_endpoint_of(g, a), f);
    if (!up) throw from_error(up.err());
    auto att = up.value();
    att.name = base_name(f);
    atts.push_back(std::move(att));
  }
  auto o = options(g, a, account_store(a));
  // Events this send receives are not shown. Once a tail ran, positions mean "shown by
  // tail": they are rewound afterwards, and conversations without one are new (replayed
  // from the join, as tail would). Before that, the first tail seeds the positions
  // anyway: starting live and keeping what was received spares the next send a replay.
  bool seeded = !sdk::local_store(o.store_path).get(kSeededKey).empty();
  o.rewind = seeded;
  o.replay_from_join = seeded;
  session s(o);
  // Durable from here on: killed now, the next send or tail transmits it.
  sdk::send_options so;
  so.reply_to = reply_to;
  so.thread = thread;
  so.attachments = std::move(atts);
  auto cmid = s.send(conv, text, so);
  auto dl = deadline_after(g);
  auto queued_error = [&](const std::string& code, const std::string& why, int status) {
    return failure(code,
                   why + "; the message stays queued (" + cmid +
                       ") and the next parley-cli send or tail transmits it",
                   status);
  };
  auto report_other = [&](const happening& h) {
    if (auto* ack = std::get_if<sdk::send_ack>(&h)) {
      note("sent a message queued earlier: #" + std::to_string(ack->conv) + ":" +
           std::to_string(ack->seq));
    } else if (auto* f = std::get_if<send_failed>(&h)) {
      note("warning: a message queued earlier (" + f->client_msg_id + ") was rejected: " +
           std::string(errc_name(f->err.code)) + ": " + escape_text(f->err.message));
    }
  };
  std::optional<sdk::send_ack> mine;
  while (!mine) {
    // next() returns what is queued even past the deadline: check it here, so that a busy
    // stream of events cannot keep the command waiting.
    auto h = clock::now() < dl ? s.next(dl) : std::nullopt;
    if (!h) {
      auto st = s.state();
      throw queued_error(
          "timeout",
          st == sdk::state::online
              ? "not acknowledged within " + seconds_text(g.timeout_s)
              : "could not reach " + a.server.str() + " within " + seconds_text(g.timeout_s),
          exit_queued);
    }
    if (auto* ack = std::get_if<sdk::send_ack>(&*h); ack && ack->client_msg_id == cmid) {
      mine = *ack;
    } else if (auto* f = std::get_if<send_failed>(&*h); f && f->client_msg_id == cmid) {
      throw from_error(f->err);  // permanent: the SDK removed it from the outbox
    } else if (auto* af = std::get_if<auth_failed>(&*h)) {
      auto e = from_error(af->err);
      throw queued_error(e.code, e.what(), e.status);
    } else {
      report_other(*h);
    }
  }
  // Older queued messages may still await their acknowledgement: give them a moment.
  auto grace = std::min(dl, clock::now() + std::chrono::seconds(2));
  while (s.outbox_size() > 0 && clock::now() < grace)
    if (auto h = s.next(grace)) report_other(*h);
  if (g.json) {
    print_json({{"conv", mine->conv},
                {"seq", mine->seq},
                {"id", mine->id},
                {"ts", mine->ts},
                {"client_msg_id", mine->client_msg_id},
                {"duplicate", mine->duplicate}});
  } else {
    print_line("sent #" + std::to_string(mine->conv) + ":" + std::to_string(mine->seq) +
               " (conversation " + std::to_string(mine->conv) + ", seq " +
               std::to_string(mine->seq) + ")");
  }
  if (auto left = s.outbox_size(); left > 0)
    note("note: " + std::to_string(left) + " earlier message(s) still queued");
  s.stop();
  return exit_ok;
}

int cmd_history(const globals& g, const history_args& args) {
  auto a = load_account(g, true);
  session s(options(g, a, ":memory:"));
  json::object req{{"conv", args.conv}};
  if (args.before) req["before"] = *args.before;
  if (args.after) req["after"] = *args.after;
  if (args.limit) req["limit"] = *args.limit;
  auto r = s.call("history", std::move(req), deadline_after(g));
  const auto& events = array_at(r, "events");
  if (g.json) {
    for (const auto& e : events)
      if (e.is_object()) print_json(e.as_object());
    return exit_ok;
  }
  names n;
  n.learn(a.cred.user_id, a.cred.handle);
  try {
    auto c = s.call("conv.get", {{"conv", args.conv}}, deadline_after(g));
    n.learn_conversation(object_at(c, "conversation"));
  } catch (const failure&) {
    // Names are a nicety: without them senders show as user#ID.
  }
  std::vector<sdk::event> evs;
  for (const auto& e : events)
    if (e.is_object()) evs.push_back(event_from_json(e.as_object())), n.learn_event(evs.back());
  for (const auto& e : evs) print_line(render_event(e, n));
  if (evs.empty()) note("no events");
  auto more = r.if_contains("has_more");
  if (more && more->is_bool() && more->as_bool() && !evs.empty()) {
    if (args.after)
      note("more: --after " + std::to_string(evs.back().seq));
    else
      note("older: --before " + std::to_string(evs.front().seq));
  }
  return exit_ok;
}

int cmd_tail(const globals& g, const tail_args& args) {
  auto a = load_account(g, true);
  auto store = account_store(a);
  std::set<std::int64_t> only(args.convs.begin(), args.convs.end());

  // The first tail of this store starts live everywhere: seed a position at the current
  // end of every conversation, so that later runs replay what they missed and nothing
  // older. (Without positions the SDK would replay unknown conversations from the join.)
  {
    sdk::local_store ls(store);
    if (ls.get(kSeededKey).empty()) {
      session probe(options(g, a, ":memory:"));
      auto r = probe.call("conv.list", {}, deadline_after(g));
      std::unordered_map<std::int64_t, std::int64_t> pos;
      for (const auto& c : array_at(r, "conversations"))
        if (c.is_object()) pos[num(c.as_object(), "id")] = num(c.as_object(), "last_seq");
      ls.save_positions(pos);
      ls.put(kSeededKey, "1");
    }
  }

  // Ctrl-C and SIGTERM end the loop below, so that the session stops cleanly.
  g_interrupted = 0;
  struct sigaction sa = {}, old_int = {}, old_term = {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct restore_signals {
    struct sigaction i, t;
    ~restore_signals() {
      sigaction(SIGINT, &i, nullptr);
      sigaction(SIGTERM, &t, nullptr);
    }
  } restore{old_int, old_term};

  auto o = options(g, a, store);
  o.follow = true;
  // Seeded: every conversation without a position is new since, shown from its start.
  o.replay_from_join = true;
  session s(o);
  // Declared after the session: released first, so the session's rewind sees whether
  // another tail still follows this store.
  store_lock lock(store);
  lock.hold_shared();

  names n;
  n.learn(a.cred.user_id, a.cred.handle);
  std::unordered_set<std::int64_t> asked;
  std::size_t shown = 0;
  bool was_online = false, warned = false;
  auto end =
      args.for_s > 0
          ? clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(args.for_s * 1000))
          : clock::time_point::max();
  std::string following = only.empty() ? "all conversations" : "conversation(s)";
  for (auto c : only) following += " " + std::to_string(c);

  while (!g_interrupted && (args.count == 0 || shown < args.count)) {
    auto now = clock::now();
    if (now >= end) break;
    auto h = s.next(std::min(end, now + std::chrono::milliseconds(100)));
    if (!h) {
      if (stdout_closed()) throw output_closed{};  // `parley-cli tail | head -3` is done
      continue;
    }
    if (auto* e = std::get_if<sdk::event>(&*h)) {
      if (!only.empty() && !only.count(e->conv)) continue;
      if (g.json) {
        print_json(event_to_json(*e));
      } else {
        if (asked.insert(e->conv).second) {
          try {  // the members' handles, once per conversation
            auto c =
                s.call("conv.get", {{"conv", e->conv}}, clock::now() + std::chrono::seconds(2));
            n.learn_conversation(object_at(c, "conversation"));
          } catch (const failure&) {
          }
        }
        n.learn_event(*e);
        print_line(render_event(*e, n));
      }
      s.shown(*e);
      ++shown;
    } else if (auto* st = std::get_if<sdk::state>(&*h)) {
      if (*st == sdk::state::online) {
        note(was_online ? "tail: online again"
                        : "tail: following " + following + " on " + a.server.str() + " as " +
                              escape_text(a.cred.handle) + " (Ctrl-C to stop)");
        was_online = true;
      } else if (*st == sdk::state::backing_off && was_online) {
        note("tail: connection lost; reconnecting");
        was_online = false;
      } else if (*st == sdk::state::backing_off && !warned) {
        note("tail: cannot reach " + a.server.str() + " yet; retrying");
        warned = true;
      }
    } else if (auto* lost = std::get_if<lost_history>(&*h)) {
      if (!only.empty() && !only.count(lost->conv)) continue;
      if (g.json) {
        print_json({{"notice", "history_pruned"},
                    {"conv", lost->conv},
                    {"from_seq", lost->from_seq},
                    {"to_seq", lost->to_seq}});
      } else {
        print_line("#" + std::to_string(lost->conv) + ": events " + std::to_string(lost->from_seq) +
                   ".." + std::to_string(lost->to_seq) + " were pruned on the server and are gone");
      }
    } else if (auto* ack = std::get_if<sdk::send_ack>(&*h)) {
      note("tail: sent a queued message: #" + std::to_string(ack->conv) + ":" +
           std::to_string(ack->seq));
    } else if (auto* f = std::get_if<send_failed>(&*h)) {
      note("warning: a queued message (" + f->client_msg_id + ") was rejected: " +
           std::string(errc_name(f->err.code)) + ": " + escape_text(f->err.message));
    } else if (auto* af = std::get_if<auth_failed>(&*h)) {
      throw from_error(af->err);
    } else if (auto* t = std::get_if<sdk::typing_update>(&*h)) {
      if (!args.activity || (!only.empty() && !only.count(t->conv))) continue;
      if (g.json)
        print_json(
            {{"notice", "typing"}, {"conv", t->conv}, {"user", t->user}, {"typing", t->typing}});
      else
        print_line("#" + std::to_string(t->conv) + ": " + n.name(t->user) +
                   (t->typing ? " is typing" : " stopped typing"));
    } else if (auto* p = std::get_if<sdk::presence_update>(&*h)) {
      if (!args.activity) continue;
      if (g.json) {
        json::object o{{"notice", "presence"}, {"user", p->user}, {"state", p->state}};
        if (p->last_seen) o["last_seen"] = p->last_seen;
        print_json(o);
      } else {
        print_line(n.name(p->user) + " is " + escape_text(p->state) +
                   (p->last_seen ? " (last seen " + format_time(p->last_seen) + ")" : ""));
      }
    }
  }
  if (args.count > 0 && shown < args.count && !g_interrupted)
    throw failure("timeout",
                  std::to_string(shown) + " of " + std::to_string(args.count) +
                      " event(s) within " + seconds_text(args.for_s),
                  exit_unreachable);
  return exit_ok;
}

// --- rich messages -----------------------------------------------------------------------

namespace {

// Runs one operation for the logged-in account and returns its result.
json::object run_op(const globals& g, const std::string& op, json::object args) {
  auto a = load_account(g, true);
  session s(options(g, a, ":memory:"));
  return s.call(op, std::move(args), deadline_after(g));
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// "changed" results: a line saying what happened, or the JSON.
int print_change(const globals& g, const json::object& r, const std::string& what) {
  if (g.json) {
    print_json(r);
    return exit_ok;
  }
  auto* c = r.if_contains("changed");
  bool changed = c && c->is_bool() && c->as_bool();
  print_line(changed ? what + (num(r, "seq") ? " (#" + std::to_string(num(r, "conv")) + ":" +
                                                   std::to_string(num(r, "seq")) + ")"
                                             : std::string())
                     : "nothing to change");
  return exit_ok;
}

// "#SEQ ann: text (edited) > #40 👍 2 [3 replies]" for a message object.
std::string render_message(const json::object& m) {
  std::string line =
      "#" + std::to_string(num(m, "seq")) + " user#" + std::to_string(num(m, "sender"));
  if (auto* d = m.if_contains("deleted"); d && d->is_bool() && d->as_bool())
    return line + ": [deleted]";
  line += ": " + escape_text(str(m, "text"));
  line += render_attachments(attachments_from_json(m.if_contains("attachments")));
  if (m.contains("edited_ts")) line += " (edited)";
  if (auto* q = m.if_contains("reply_to"); q && q->is_object())
    line += " > #" + std::to_string(num(q->as_object(), "seq"));
  for (const auto& r : array_at(m, "reactions"))
    if (r.is_object())
      line += " " + escape_text(str(r.as_object(), "emoji")) + " " +
              std::to_string(num(r.as_object(), "count"));
  if (auto* rs = m.if_contains("replies"); rs && rs->is_object())
    line += " [" + std::to_string(num(rs->as_object(), "count")) + " replies]";
  return line;
}

}  // namespace

int cmd_typing(const globals& g, std::int64_t conv, bool stop) {
  run_op(g, "typing", {{"conv", conv}, {"typing", !stop}});
  if (!g.json) print_line(stop ? "stopped typing" : "typing (for 5 s)");
  return exit_ok;
}

int cmd_receipts(const globals& g, std::int64_t conv, std::int64_t thread) {
  json::object args{{"conv", conv}};
  if (thread) args["thread"] = thread;
  auto r = run_op(g, "receipts", std::move(args));
  for (const auto& x : array_at(r, "receipts")) {
    if (!x.is_object()) continue;
    const auto& o = x.as_object();
    if (g.json) {
      print_json(o);
      continue;
    }
    std::string line = "user#" + std::to_string(num(o, "user"));
    if (o.contains("delivered")) line += " delivered " + std::to_string(num(o, "delivered"));
    line += o.contains("read") ? " read " + std::to_string(num(o, "read")) : " read (private)";
    print_line(line);
  }
  return exit_ok;
}

int cmd_presence(const globals& g) {
  auto r = run_op(g, "presence.get", {});
  for (const auto& x : array_at(r, "presence")) {
    if (!x.is_object()) continue;
    const auto& o = x.as_object();
    if (g.json) {
      print_json(o);
      continue;
    }
    std::string line =
        "user#" + std::to_string(num(o, "user")) + " " + escape_text(str(o, "state"));
    if (num(o, "last_seen")) line += " (last seen " + format_time(num(o, "last_seen")) + ")";
    print_line(line);
  }
  return exit_ok;
}

int cmd_settings(const globals& g, std::optional<bool> private_receipts,
                 std::optional<bool> invisible) {
  json::object args;
  if (private_receipts) args["private_receipts"] = *private_receipts;
  if (invisible) args["invisible"] = *invisible;
  auto r = run_op(g, "settings", std::move(args));
  if (g.json) {
    print_json(r);
  } else {
    auto on = [&r](const char* k) {
      auto v = r.if_contains(k);
      return v && v->is_bool() && v->as_bool() ? "on" : "off";
    };
    print_line(std::string("private receipts: ") + on("private_receipts") +
               ", invisible: " + on("invisible"));
  }
  return exit_ok;
}

int cmd_edit(const globals& g, std::int64_t conv, std::int64_t msg,
             const std::vector<std::string>& words) {
  auto r = run_op(g, "edit", {{"conv", conv}, {"msg", msg}, {"text", joined(words)}});
  return print_change(g, r, "edited #" + std::to_string(conv) + ":" + std::to_string(msg));
}

int cmd_delete(const globals& g, std::int64_t conv, std::int64_t msg) {
  auto r = run_op(g, "delete", {{"conv", conv}, {"msg", msg}});
  return print_change(g, r, "deleted #" + std::to_string(conv) + ":" + std::to_string(msg));
}

int cmd_react(const globals& g, std::int64_t conv, std::int64_t msg, const std::string& emoji,
              bool add) {
  auto r = run_op(g, add ? "react" : "unreact", {{"conv", conv}, {"msg", msg}, {"emoji", emoji}});
  return print_change(g, r, std::string(add ? "reacted " : "removed ") + escape_text(emoji));
}

int cmd_messages(const globals& g, const page_args& p) {
  json::object args{{"conv", p.conv}};
  if (p.thread) args["thread"] = p.thread;
  if (p.before) args["before"] = *p.before;
  if (p.after) args["after"] = *p.after;
  if (p.limit) args["limit"] = *p.limit;
  auto r = run_op(g, p.thread ? "thread" : "messages", std::move(args));
  if (g.json) {
    if (p.thread) print_json(object_at(r, "root"));
    for (const auto& m : array_at(r, p.thread ? "replies" : "messages"))
      if (m.is_object()) print_json(m.as_object());
    return exit_ok;
  }
  if (p.thread) print_line(render_message(object_at(r, "root")));
  const auto& ms = array_at(r, p.thread ? "replies" : "messages");
  for (const auto& m : ms)
    if (m.is_object()) print_line((p.thread ? "  " : "") + render_message(m.as_object()));
  if (ms.empty()) note("no messages");
  return exit_ok;
}

int cmd_edits(const globals& g, std::int64_t conv, std::int64_t msg) {
  auto r = run_op(g, "edits", {{"conv", conv}, {"msg", msg}});
  if (g.json) {
    print_json(r);
    return exit_ok;
  }
  for (const auto& v : array_at(r, "versions"))
    if (v.is_object())
      print_line(format_time(num(v.as_object(), "since_ts")) + " " +
                 escape_text(str(v.as_object(), "text")));
  const auto& cur = object_at(r, "current");
  print_line(format_time(num(cur, "since_ts")) + " " + escape_text(str(cur, "text")) +
             " (current)");
  return exit_ok;
}

int cmd_search(const globals& g, const search_args& a) {
  json::object args{{"query", joined(a.words)}};
  if (a.conv) args["conv"] = *a.conv;
  if (a.limit) args["limit"] = *a.limit;
  if (a.from) args["sender"] = *a.from;
  auto r = run_op(g, "search", std::move(args));
  const auto& rs = array_at(r, "results");
  for (const auto& h : rs) {
    if (!h.is_object()) continue;
    const auto& o = h.as_object();
    if (g.json) {
      print_json(o);
      continue;
    }
    std::string text;
    for (const auto& seg : array_at(o, "snippet")) {
      if (!seg.is_object()) continue;
      auto t = escape_text(str(seg.as_object(), "text"));
      text += seg.as_object().contains("hit") ? "[" + t + "]" : t;
    }
    print_line(format_time(num(o, "ts")) + " #" + std::to_string(num(o, "conv")) + ":" +
               std::to_string(num(o, "seq")) + " user#" + std::to_string(num(o, "sender")) + ": " +
               text);
  }
  if (rs.empty() && !g.json) note("no messages found");
  return exit_ok;
}

int cmd_read(const globals& g, std::int64_t conv, std::int64_t seq, std::int64_t thread) {
  json::object args{{"conv", conv}, {"seq", seq}};
  if (thread) args["thread"] = thread;
  auto r = run_op(g, "read", std::move(args));
  if (g.json) {
    print_json(r);
    return exit_ok;
  }
  print_line("read up to #" + std::to_string(conv) + ":" + std::to_string(num(r, "seq")) + "; " +
             std::to_string(num(r, "unread")) + " unread, " + std::to_string(num(r, "mentions")) +
             " mentions");
  return exit_ok;
}

int cmd_follow(const globals& g, std::int64_t conv, std::int64_t root, bool on) {
  auto r = run_op(g, on ? "follow" : "unfollow", {{"conv", conv}, {"thread", root}});
  return print_change(g, r,
                      std::string(on ? "following" : "not following") + " the thread #" +
                          std::to_string(conv) + ":" + std::to_string(root));
}

int cmd_threads(const globals& g, std::optional<std::int64_t> conv) {
  json::object args;
  if (conv) args["conv"] = *conv;
  auto r = run_op(g, "threads", std::move(args));
  const auto& ts = array_at(r, "threads");
  for (const auto& t : ts) {
    if (!t.is_object()) continue;
    const auto& o = t.as_object();
    if (g.json) {
      print_json(o);
      continue;
    }
    print_line("#" + std::to_string(num(o, "conv")) + ":" + std::to_string(num(o, "thread")) + " " +
               std::to_string(num(o, "replies")) + " replies, " + std::to_string(num(o, "unread")) +
               " unread, " + std::to_string(num(o, "mentions")) + " mentions");
  }
  if (ts.empty() && !g.json) note("no followed threads");
  return exit_ok;
}

}  // namespace parley::cli
