// The SDK against the real server: chat, reconnection after kill -9 of the server with an
// outbox mid-burst, and a client process killed with a non-empty outbox.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "chat_helpers.hpp"
#include "parley/sdk/blocking_client.hpp"
#include "parley/sdk/files.hpp"
#include "sdk_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
using parley::sdk::blocking_client;
using parley::sdk::client_options;

namespace {

std::vector<boost::json::object> full_history(std::uint16_t port, const std::string& token,
                                              std::int64_t conv) {
  ws_client c(port, token);
  return parley::test::full_history(c, conv);
}

// Texts of the conversation's stored messages, in seq order.
std::vector<std::string> stored_texts(std::uint16_t port, const std::string& token,
                                      std::int64_t conv) {
  std::vector<std::string> out;
  for (auto& e : full_history(port, token, conv))
    if (e["type"] == "message.created") out.emplace_back(e["data"].as_object()["text"].as_string());
  return out;
}

// Checks: every text "prefix-i" for i < n appears exactly once, in increasing i order.
void expect_each_once_in_order(const std::vector<std::string>& texts, const std::string& prefix,
                               int n) {
  std::vector<int> got;
  for (const auto& t : texts)
    if (t.rfind(prefix, 0) == 0) got.push_back(std::stoi(t.substr(prefix.size())));
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n)) << "each message exactly once";
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i) << "in send order";
}

struct child {
  pid_t pid = -1;
  int out = -1;
  std::string buffered;
  child(std::uint16_t port, const std::string& token, const std::string& store, std::int64_t conv,
        int count) {
    int p[2];
    if (pipe(p) != 0) throw std::runtime_error("pipe");
    pid = fork();
    if (pid == 0) {
      dup2(p[1], 1);
      close(p[0]);
      close(p[1]);
      const char* bin = std::getenv("PARLEY_SDK_CHILD");
      execl(bin, bin, std::to_string(port).c_str(), token.c_str(), store.c_str(),
            std::to_string(conv).c_str(), std::to_string(count).c_str(), nullptr);
      _exit(127);
    }
    close(p[1]);
    out = p[0];
  }
  ~child() {
    if (pid > 0) kill9();
    if (out >= 0) close(out);
  }
  // Waits until `n` lines starting with `what` were printed.
  bool wait_lines(const std::string& what, int n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int count = 0;
      for (std::size_t i = 0; (i = buffered.find(what, i)) != std::string::npos; i += what.size())
        ++count;
      if (count >= n) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pf{out, POLLIN, 0};
      if (left.count() <= 0 || poll(&pf, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      auto r = read(out, buf, sizeof buf);
      if (r <= 0) return false;
      buffered.append(buf, static_cast<std::size_t>(r));
    }
  }
  void kill9() {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  int wait_exit() {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

}  // namespace

TEST(SdkClient, TwoClientsChatExactlyOnceInOrder) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(5s));
  auto r = a.call("conv.create", {{"kind", "direct"}, {"peer", "bob"}});
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto conv = r.value()["conversation"].as_object()["id"].as_int64();
  for (int i = 0; i < 20; ++i) a.send(conv, "a-" + std::to_string(i));
  ASSERT_TRUE(a.wait_outbox_empty(10s));
  auto evs = b.events(21, 10s);
  ASSERT_EQ(evs.size(), 21u);
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    EXPECT_EQ(evs[i].seq, static_cast<std::int64_t>(i + 1));
    texts.push_back(evs[i].text);
  }
  expect_each_once_in_order(texts, "a-", 20);
  EXPECT_EQ(a.acks().size(), 20u);
  EXPECT_FALSE(b.next_event(200ms).has_value());
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, ServerKill9DuringSendBurstLosesAndDuplicatesNothing) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto cat = register_and_login(srv.port(), "cat");
  std::int64_t conv;
  {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {"bob", "cat"});
  }
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
  blocking_client c(options(srv.port(), cat.token, dir + "/c.db"));
  ASSERT_TRUE(a.wait_online(5s) && b.wait_online(5s) && c.wait_online(5s));
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) a.send(conv, "m-" + std::to_string(i));
  // Kill the server once part of the burst is acknowledged; restart it a little later.
  for (int i = 0; i < 500 && a.acks().size() < 60; ++i) std::this_thread::sleep_for(2ms);
  srv.kill9();
  auto acked_before = a.acks().size();
  EXPECT_LT(acked_before, static_cast<std::size_t>(kMessages)) << "the crash should hit mid-burst";
  std::this_thread::sleep_for(300ms);
  srv.start();
  ASSERT_TRUE(a.wait_outbox_empty(30s)) << "the SDK reconnects by itself and flushes";
  for (auto* r : {&b, &c}) {
    auto evs = r->events(kMessages + 1, 30s);
    ASSERT_EQ(evs.size(), static_cast<std::size_t>(kMessages + 1));
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < evs.size(); ++i) {
      ASSERT_EQ(evs[i].seq, static_cast<std::int64_t>(i + 1)) << "gapless, in order";
      texts.push_back(evs[i].text);
    }
    expect_each_once_in_order(texts, "m-", kMessages);
    EXPECT_FALSE(r->next_event(200ms).has_value());
  }
  auto stored = stored_texts(srv.port(), ann.token, conv);
  expect_each_once_in_order(stored, "m-", kMessages);
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, RestartedClientResumesFromItsStoredPosition) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  ws_client a(srv.port(), ann.token);
  auto conv = create_group(a, "g", {"bob"});
  auto dir = temp_dir();
  {
    blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
    ASSERT_TRUE(b.wait_online(5s));
    send_text(a, conv, "x0", "first");
    ASSERT_EQ(b.events(2, 5s).size(), 2u);
  }  // the app exits
  for (int i = 1; i <= 5; ++i)
    send_text(a, conv, "x" + std::to_string(i), "while away " + std::to_string(i));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
  auto evs = b.events(5, 10s);
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs.front().seq, 3);
  EXPECT_EQ(evs.back().text, "while away 5");
  EXPECT_FALSE(b.next_event(200ms).has_value());
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, ClientKilledWithQueuedOutboxSendsEachMessageOnceAfterRestart) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  std::int64_t conv;
  {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {});
  }
  ASSERT_EQ(srv.stop(), 0);  // offline: the child can only queue
  auto dir = temp_dir();
  {
    child k(srv.port(), ann.token, dir + "/child.db", conv, 40);
    ASSERT_TRUE(k.wait_lines("queued", 1, 10s));
    k.kill9();
  }
  srv.start();
  child again(srv.port(), ann.token, dir + "/child.db", conv, 0);
  EXPECT_EQ(again.wait_exit(), 0);
  auto stored = stored_texts(srv.port(), ann.token, conv);
  expect_each_once_in_order(stored, "child-", 40);
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, ClientKilledMidBurstSendsEachMessageOnceAfterRestart) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  std::int64_t conv;
  {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {});
  }
  auto dir = temp_dir();
  {
    child k(srv.port(), ann.token, dir + "/child.db", conv, 400);
    ASSERT_TRUE(k.wait_lines("ack ", 30, 20s));
    k.kill9();  // some sends acknowledged, some in flight, some never sent
  }
  child again(srv.port(), ann.token, dir + "/child.db", conv, 0);
  EXPECT_EQ(again.wait_exit(), 0);
  auto stored = stored_texts(srv.port(), ann.token, conv);
  expect_each_once_in_order(stored, "child-", 400);
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, RevokedTokenStopsReconnecting) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_EQ(http(srv.port(), "POST", "/v1/logout", "", ann.token).status, 200);
  for (int i = 0; i < 200 && a.current_state() != parley::sdk::state::offline; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(a.current_state(), parley::sdk::state::offline);
  std::filesystem::remove_all(dir);
}

namespace {
// Runs one of the client's typed operations and waits for its result.
template <class F>
parley::result<boost::json::object> typed(F&& op) {
  auto p = std::make_shared<std::promise<parley::result<boost::json::object>>>();
  auto f = p->get_future();
  op([p](parley::result<boost::json::object> r) { p->set_value(std::move(r)); });
  if (f.wait_for(10s) != std::future_status::ready)
    return parley::make_error(parley::errc::internal, "timed out");
  return f.get();
}
}  // namespace

TEST(SdkClient, RichMessagesThroughTheOutboxAndTypedOperations) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(5s));
  auto r = a.call("conv.create", {{"kind", "group"}, {"title", "t"}, {"members", {"bob"}}});
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto conv = r.value()["conversation"].as_object()["id"].as_int64();
  ASSERT_EQ(b.events(1, 10s).size(), 1u);  // conversation.created

  a.send(conv, "root @bob");                                                       // 2
  a.send(conv, "in the thread", {.reply_to = 0, .thread = 2, .attachments = {}});  // 3
  a.send(conv, "quoting", {.reply_to = 2, .thread = 0, .attachments = {}});        // 4
  ASSERT_TRUE(a.wait_outbox_empty(10s));
  auto evs = b.events(3, 10s);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].mentions, std::vector<std::int64_t>{bob.id});
  EXPECT_EQ(evs[1].thread, 2);
  EXPECT_EQ(evs[2].reply_to, 2);

  auto& bc = b.async();
  auto rr = typed([&](auto done) { bc.react(conv, 2, "👍", true, done); });
  ASSERT_TRUE(rr.ok()) << rr.err().message;
  auto ev = b.events(1, 10s).at(0);
  EXPECT_EQ(ev.type, "reaction.added");
  EXPECT_EQ(ev.msg, 2);
  EXPECT_EQ(ev.emoji, "👍");
  auto& ac = a.async();
  ASSERT_TRUE(typed([&](auto done) { ac.edit(conv, 4, "quoting, edited", done); }).ok());
  ASSERT_TRUE(typed([&](auto done) { ac.delete_message(conv, 3, done); }).ok());
  evs = b.events(2, 10s);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].type, "message.edited");
  EXPECT_EQ(evs[0].text, "quoting, edited");
  EXPECT_EQ(evs[1].type, "message.deleted");
  EXPECT_EQ(evs[1].msg, 3);

  auto page = typed([&](auto done) { bc.messages(conv, {}, done); });
  ASSERT_TRUE(page.ok());
  auto ms = page.value()["messages"].as_array();
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].as_object()["replies"].as_object()["count"].as_int64(), 0);  // reply deleted
  parley::sdk::search_request q;
  q.query = "edited";
  // Found once the server's indexer has taken it (every 200 ms).
  std::size_t hits = 0;
  for (int i = 0; i < 50 && hits == 0; ++i) {
    auto found = typed([&](auto done) { bc.search(q, done); });
    ASSERT_TRUE(found.ok());
    hits = found.value()["results"].as_array().size();
    if (hits == 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(hits, 1u);

  auto read = typed([&](auto done) { bc.mark_read(conv, 4, 0, done); });
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read.value()["unread"].as_int64(), 0);
  for (int i = 0; i < 100 && b.notices().size() < 2; ++i) std::this_thread::sleep_for(50ms);
  auto ns = b.notices();
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(ns[0].at("notice").as_string(), "mention");  // "root @bob"
  EXPECT_EQ(ns[0].at("seq").as_int64(), 2);
  EXPECT_EQ(ns[1].at("notice").as_string(), "read");
  EXPECT_TRUE(a.notices().empty());
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, AttachmentsUploadThroughTheOutboxAndDownloadResumably) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto dir = temp_dir();
  // A GIF header saying 7x5, then enough bytes to need several chunks.
  std::string bytes = std::string("GIF89a\x07\x00\x05\x00", 10) + std::string(300000, 'g');
  {
    std::ofstream f(dir + "/in.gif", std::ios::binary);
    f << bytes;
  }
  parley::sdk::file_endpoint ann_ep{"127.0.0.1", srv.port(), ann.token};
  auto up = parley::sdk::upload_file(ann_ep, dir + "/in.gif");
  ASSERT_TRUE(up.ok()) << up.err().message;
  EXPECT_EQ(up.value().type, "image/gif");
  EXPECT_EQ(up.value().width, 7);
  EXPECT_EQ(up.value().size, static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(parley::sdk::upload_file(ann_ep, dir + "/missing").err().code, parley::errc::not_found);
  parley::sdk::file_endpoint stranger{"127.0.0.1", srv.port(), "pt_not-a-token"};
  EXPECT_EQ(parley::sdk::upload_file(stranger, dir + "/in.gif").err().code,
            parley::errc::unauthenticated);

  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(5s));
  auto r = a.call("conv.create", {{"kind", "group"}, {"title", "t"}, {"members", {"bob"}}});
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto conv = r.value()["conversation"].as_object()["id"].as_int64();
  ASSERT_EQ(b.events(1, 10s).size(), 1u);
  parley::sdk::send_options o;
  auto att = up.value();
  att.name = "in.gif";
  o.attachments.push_back(att);
  a.send(conv, "", o);
  ASSERT_TRUE(a.wait_outbox_empty(10s));
  auto ev = b.events(1, 10s).at(0);
  ASSERT_EQ(ev.attachments.size(), 1u);
  EXPECT_EQ(ev.attachments[0].id, att.id);
  EXPECT_EQ(ev.attachments[0].name, "in.gif");
  EXPECT_EQ(ev.attachments[0].height, 5);

  parley::sdk::file_endpoint bob_ep{"127.0.0.1", srv.port(), bob.token};
  // An interrupted download left the first 1000 bytes: the rest is fetched with a range.
  {
    std::ofstream part(dir + "/out.gif.part", std::ios::binary);
    part << bytes.substr(0, 1000);
  }
  auto got = parley::sdk::download_file(bob_ep, att.id, dir + "/out.gif");
  ASSERT_TRUE(got.ok()) << got.err().message;
  EXPECT_EQ(got.value(), static_cast<std::int64_t>(bytes.size()));
  std::ifstream in(dir + "/out.gif", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.gif.part"));
  // A corrupt partial file is caught by the hash check and not kept.
  {
    std::ofstream part(dir + "/bad.gif.part", std::ios::binary);
    part << "XXXX";
  }
  auto bad = parley::sdk::download_file(bob_ep, att.id, dir + "/bad.gif");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.gif"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.gif.part"));
  // Someone who cannot see it gets not_found.
  auto eve = register_and_login(srv.port(), "eve");
  parley::sdk::file_endpoint eve_ep{"127.0.0.1", srv.port(), eve.token};
  EXPECT_EQ(parley::sdk::download_file(eve_ep, att.id, dir + "/eve.gif").err().code,
            parley::errc::not_found);
  std::filesystem::remove_all(dir);
}

TEST(SdkClient, DeliveryReceiptsTypingAndPresenceBetweenTwoClients) {
  server_process srv({"--set", "presence.flush_ms=100", "--set", "presence.receipts_flush_ms=50"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto dir = temp_dir();
  auto ao = options(srv.port(), ann.token, dir + "/a.db");
  auto bo = options(srv.port(), bob.token, dir + "/b.db");
  bo.ack_interval = std::chrono::milliseconds(100);
  blocking_client a(ao);
  ASSERT_TRUE(a.wait_online(5s));
  auto r = a.call("conv.create", {{"kind", "group"}, {"title", "t"}, {"members", {"bob"}}});
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto conv = r.value()["conversation"].as_object()["id"].as_int64();
  blocking_client b(bo);
  ASSERT_TRUE(b.wait_online(5s));
  // ann sees bob come online.
  EXPECT_TRUE(a.wait_for(
      [&](blocking_client& c) {
        for (const auto& p : c.presence_updates())
          if (p.user == bob.id && p.state == "online") return true;
        return false;
      },
      5s));
  a.send(conv, "hello bob");  // seq 2
  ASSERT_EQ(b.events(2, 10s).size(), 2u);
  // bob's client acknowledges what it received on its own: ann hears it.
  EXPECT_TRUE(a.wait_for(
      [&](blocking_client& c) {
        for (const auto& u : c.receipt_updates())
          for (const auto& [user, seq] : u.delivered)
            if (u.conv == conv && user == bob.id && seq >= 2) return true;
        return false;
      },
      5s));
  auto& bc = b.async();
  ASSERT_TRUE(typed([&](auto done) { bc.typing(conv, true, done); }).ok());
  EXPECT_TRUE(a.wait_for(
      [&](blocking_client& c) {
        for (const auto& t : c.typing_updates())
          if (t.user == bob.id && t.typing && t.expires_ms == 5000) return true;
        return false;
      },
      5s));
  EXPECT_TRUE(b.typing_updates().empty()) << "never echoed to the typist";
  auto rs = typed([&](auto done) { bc.receipts(conv, 0, done); });
  ASSERT_TRUE(rs.ok());
  bool found = false;
  for (const auto& x : rs.value()["receipts"].as_array())
    if (x.as_object().at("user").as_int64() == bob.id)
      found = x.as_object().at("delivered").as_int64() >= 2;
  EXPECT_TRUE(found);
  auto st = typed([&](auto done) { bc.settings(true, std::nullopt, done); });
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st.value()["private_receipts"].as_bool());
  EXPECT_FALSE(st.value()["invisible"].as_bool());
  std::filesystem::remove_all(dir);
}
