// Rate limits against the real binary (rate.*): per user for sends and typing, per account
// and per address for logins, per connection for everything, the reply's retry_after_ms
// (HTTP 429 with Retry-After), the close for sustained abuse, and rate.enabled = "off".
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <map>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

std::string code_of(const json::object& reply) {
  auto* e = reply.if_contains("error");
  return e ? std::string(e->as_object().at("code").as_string()) : "";
}

TEST(Rate, SendsBeyondTheBurstWaitForTheRateAndRetriesCostNothing) {
  server_process srv({"--set", "rate.write_burst=5", "--set", "rate.write_per_s=4"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  for (int i = 0; i < 5; ++i) send_text(*a, conv, "m" + std::to_string(i), "hi");
  auto r = a->request(
      {{"op", "send"}, {"conv", conv}, {"client_msg_id", "m5"}, {"text", "one too many"}});
  ASSERT_EQ(code_of(r), "rate_limited") << json::serialize(r);
  auto wait = r["error"].as_object()["retry_after_ms"].as_int64();
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 250);
  EXPECT_EQ(a->call({{"op", "conv.get"}, {"conv", conv}})["conversation"].as_object()["last_seq"],
            6)
      << "nothing was stored";
  std::this_thread::sleep_for(std::chrono::milliseconds(wait + 20));
  auto ok = a->request(
      {{"op", "send"}, {"conv", conv}, {"client_msg_id", "m5"}, {"text", "one too many"}});
  ASSERT_TRUE(ok.contains("result")) << json::serialize(ok);
  // The retry of an acknowledged send is answered (duplicate) and gives its token back.
  std::this_thread::sleep_for(std::chrono::milliseconds(260));
  for (int i = 0; i < 3; ++i) {
    auto d = a->call(
        {{"op", "send"}, {"conv", conv}, {"client_msg_id", "m5"}, {"text", "one too many"}});
    EXPECT_TRUE(d["duplicate"].as_bool());
  }
  // Other users are not affected.
  auto bob = register_and_login(srv.port(), "bob");
  auto b = connect_live(srv.port(), bob.token);
  auto c2 = create_group(*b, "h", {});
  for (int i = 0; i < 5; ++i) send_text(*b, c2, "b" + std::to_string(i), "hi");
}

TEST(Rate, LoginsAreLimitedPerAccountAndPerAddressWith429) {
  server_process srv({"--set", "rate.login_burst=3", "--set", "rate.auth_address_burst=8"});
  auto ann = register_and_login(srv.port(), "ann");  // 2 from this address
  auto bad = [&](const std::string& handle) {
    return http(srv.port(), "POST", "/v1/login",
                R"({"handle":")" + handle + R"(","password":"wrong password!"})");
  };
  EXPECT_EQ(bad("ann").status, 401);
  EXPECT_EQ(bad("ann").status, 401);
  auto r = bad("ANN");  // the same account, whatever the case
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(r.json().as_object()["error"].as_object()["code"], "rate_limited");
  EXPECT_GT(r.json().as_object()["error"].as_object()["retry_after_ms"].as_int64(), 1000)
      << "login_per_min: a token every 6 s";
  // The right password does not get through either while the account is limited.
  auto ok = http(srv.port(), "POST", "/v1/login",
                 R"({"handle":"ann","password":"correct horse battery"})");
  EXPECT_EQ(ok.status, 429);
  // Another account from the same address: until the address's bucket (8) is empty (so
  // far: register, login, 3 wrong and 1 right attempts for ann).
  EXPECT_EQ(bad("bob").status, 401);
  EXPECT_EQ(bad("bob").status, 401);
  EXPECT_EQ(bad("cat").status, 429) << "the address's eighth attempt was the last";
  // The existing token still works: limits are on attempts, not on sessions.
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", ann.token).status, 200);
}

TEST(Rate, AConnectionThatKeepsGoingAfterRefusalsIsClosedWith4005) {
  server_process srv({"--set", "rate.connection_burst=20", "--set", "rate.connection_per_s=1",
                      "--set", "rate.abuse_refusals=10"});
  auto ann = register_and_login(srv.port(), "ann");
  ws_client c(srv.port(), ann.token);
  for (int i = 0; i < 20; ++i) c.send_text(R"({"id":)" + std::to_string(i) + R"(,"op":"ping"})");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.next_frame(5s)) << "the burst is answered";
  auto r = c.request({{"op", "ping"}});
  EXPECT_EQ(code_of(r), "rate_limited");
  EXPECT_GT(r["error"].as_object()["retry_after_ms"].as_int64(), 0);
  for (int i = 0; i < 20; ++i) c.send_text(R"({"id":"x)" + std::to_string(i) + R"(","op":"ping"})");
  EXPECT_EQ(c.wait_closed(5s), 4005);
  // Another connection of the same user has its own bucket.
  ws_client d(srv.port(), ann.token);
  EXPECT_TRUE(d.request({{"op", "ping"}}).contains("result"));
}

TEST(Rate, TypingIsLimitedPerUser) {
  server_process srv({"--set", "rate.typing_burst=3", "--set", "rate.typing_per_s=1"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  for (int i = 0; i < 3; ++i) a->call({{"op", "typing"}, {"conv", conv}});
  EXPECT_EQ(code_of(a->request({{"op", "typing"}, {"conv", conv}})), "rate_limited");
}

TEST(Rate, OffMeansNoLimits) {
  server_process srv({"--set", "rate.enabled=off", "--set", "rate.write_burst=2"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  for (int i = 0; i < 30; ++i) send_text(*a, conv, "m" + std::to_string(i), "hi");
}

}  // namespace

namespace {

// A client that pipelines sends and retries the refused ones in order keeps its order:
// after one send is refused, the later ones on that connection are refused too (even if a
// token came meanwhile) until the refused one is sent again.
TEST(Rate, PipelinedSendsKeepTheirOrderAcrossARefusal) {
  server_process srv({"--set", "rate.write_burst=3", "--set", "rate.write_per_s=2000"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  auto send = [&](int i) {
    return a->send_request({{"op", "send"},
                            {"conv", conv},
                            {"client_msg_id", "p" + std::to_string(i)},
                            {"text", "m" + std::to_string(i)}});
  };
  std::map<std::int64_t, int> ids;
  for (int i = 0; i < 40; ++i) ids[send(i)] = i;
  std::map<int, std::string> outcome;
  while (outcome.size() < ids.size()) {
    auto f = a->next_frame(5s);
    ASSERT_TRUE(f);
    if (!f->contains("id") || !f->at("id").is_int64()) continue;
    auto it = ids.find(f->at("id").as_int64());
    if (it != ids.end()) outcome[it->second] = f->contains("result") ? "ok" : code_of(*f);
  }
  int first_refused = -1;
  for (int i = 0; i < 40; ++i) {
    if (first_refused < 0 && outcome[i] != "ok") first_refused = i;
    if (first_refused >= 0) {
      EXPECT_EQ(outcome[i], "rate_limited") << "send " << i;
    }
  }
  ASSERT_GE(first_refused, 3) << "the burst went through";
  // Retried in order, everything goes through, and the conversation has them in order.
  for (int i = first_refused; i < 40; ++i) {
    for (int tries = 0;; ++tries) {
      auto r = a->request({{"op", "send"},
                           {"conv", conv},
                           {"client_msg_id", "p" + std::to_string(i)},
                           {"text", "m" + std::to_string(i)}});
      if (r.contains("result")) break;
      ASSERT_EQ(code_of(r), "rate_limited");
      ASSERT_LT(tries, 100);
      std::this_thread::sleep_for(
          std::chrono::milliseconds(r["error"].as_object()["retry_after_ms"].as_int64()));
    }
  }
  auto h = full_history(*a, conv);
  std::vector<std::string> texts;
  for (auto& e : h)
    if (e["type"] == "message.created")
      texts.emplace_back(e["data"].as_object()["text"].as_string());
  ASSERT_EQ(texts.size(), 40u);
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ(texts[static_cast<std::size_t>(i)], "m" + std::to_string(i));
}

// A full storage queue (store.queue_limit) refuses a write at once, on the connection's
// thread, while the writer is busy with the others: the refusal is a typed rate_limited
// with a retry time, nothing of a refused send is stored, and the retries go through.
// Several connections of one group pipeline sends so that the queue overflows while the
// writer checks memberships (the refusal once cleared the writer's caches from the I/O
// thread: a race that crashed the server under overload, and that the TSan build of this
// test reports).
TEST(Rate, AFullStoreQueueRefusesSendsWithRetryAfterAndLosesNothing) {
  server_process srv({"--set", "store.queue_limit=4", "--set", "rate.enabled=off"});
  constexpr int kClients = 8, kSends = 150;
  // Setup requests, and the reads at the end, may meet the small queue too: retried.
  auto retrying = [](ws_client& c, const json::object& req) {
    for (int tries = 0;; ++tries) {
      auto r = c.request(req);
      if (r.contains("result") || code_of(r) != "rate_limited" || tries == 100) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  std::vector<account> users;
  std::vector<std::string> handles;
  for (int i = 0; i < kClients; ++i) {
    users.push_back(register_and_login(srv.port(), "user" + std::to_string(i)));
    handles.push_back("user" + std::to_string(i));
  }
  // A sync whose reads the queue refuses is answered rate_limited and the connection
  // closed (4004): the client connects again, as docs/protocol.md says.
  std::vector<std::unique_ptr<ws_client>> cs;
  for (auto& u : users) {
    for (int tries = 0;; ++tries) {
      auto c = std::make_unique<ws_client>(srv.port(), u.token);
      auto r = c->request({{"op", "sync"}});
      if (r.contains("result")) {
        cs.push_back(std::move(c));
        break;
      }
      ASSERT_EQ(code_of(r), "rate_limited") << json::serialize(r);
      ASSERT_LT(tries, 100);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  json::array members(handles.begin() + 1, handles.end());
  auto created = retrying(
      *cs[0], {{"op", "conv.create"}, {"kind", "group"}, {"title", "g"}, {"members", members}});
  ASSERT_TRUE(created.contains("result")) << json::serialize(created);
  auto conv = created["result"].as_object()["conversation"].as_object()["id"].as_int64();
  // Every member has the new conversation's first events before the load starts.
  for (auto& c : cs) {
    for (;;) {
      auto p = c->next_push(10s);
      ASSERT_TRUE(p) << "a member never heard of the group";
      if (p->contains("ev") && p->at("ev").as_object().at("conv").as_int64() == conv) break;
    }
  }
  auto cmid = [](int c, int i) { return "c" + std::to_string(c) + "-" + std::to_string(i); };
  std::map<std::string, bool> acked;
  int refused = 0;
  for (int burst = 0; burst < 5 && refused == 0; ++burst) {
    std::vector<std::map<std::int64_t, std::string>> ids(kClients);
    for (int i = 0; i < kSends; ++i)
      for (int c = 0; c < kClients; ++c) {
        auto k = cmid(c, burst * kSends + i);
        ids[static_cast<std::size_t>(c)][cs[static_cast<std::size_t>(c)]->send_request(
            {{"op", "send"}, {"conv", conv}, {"client_msg_id", k}, {"text", k}})] = k;
      }
    for (int c = 0; c < kClients; ++c) {
      auto& mine = ids[static_cast<std::size_t>(c)];
      while (!mine.empty()) {
        auto f = cs[static_cast<std::size_t>(c)]->next_frame(10s);
        ASSERT_TRUE(f) << "a send was never answered";
        if (!f->contains("id") || !f->at("id").is_int64()) continue;
        auto it = mine.find(f->at("id").as_int64());
        if (it == mine.end()) continue;
        if (f->contains("result")) {
          acked[it->second] = true;
        } else {
          ASSERT_EQ(code_of(*f), "rate_limited") << json::serialize(*f);
          EXPECT_GT(f->at("error").as_object().at("retry_after_ms").as_int64(), 0);
          acked[it->second] = false;
          ++refused;
        }
        mine.erase(it);
      }
    }
  }
  ASSERT_GT(refused, 0) << "the queue never filled";
  // Nothing refused was stored: the conversation holds exactly the acknowledged sends.
  auto stored = [&] {
    std::map<std::string, int> n;
    std::int64_t after = 0;
    for (bool more = true; more;) {
      auto h =
          retrying(*cs[0], {{"op", "history"}, {"conv", conv}, {"after", after}, {"limit", 200}});
      auto& page = h.at("result").as_object();
      for (auto& v : page.at("events").as_array()) {
        auto& e = v.as_object();
        after = e.at("seq").as_int64();
        if (e.at("type") == "message.created") ++n[std::string(e.at("client_msg_id").as_string())];
      }
      more = page.at("has_more").as_bool();
    }
    return n;
  };
  auto before = stored();
  for (const auto& [k, ok] : acked) EXPECT_EQ(before.count(k), ok ? 1u : 0u) << k;
  // The refused ones, retried one at a time in the order each client sent them (a
  // connection holds its later sends back until its first refused one is retried), go
  // through.
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0;; ++i) {
      auto k = cmid(c, i);
      auto it = acked.find(k);
      if (it == acked.end()) break;
      if (it->second) continue;
      for (int tries = 0;; ++tries) {
        auto r = cs[static_cast<std::size_t>(c)]->request(
            {{"op", "send"}, {"conv", conv}, {"client_msg_id", k}, {"text", k}});
        if (r.contains("result")) break;
        ASSERT_EQ(code_of(r), "rate_limited") << json::serialize(r);
        ASSERT_LT(tries, 100) << json::serialize(r);
        std::this_thread::sleep_for(
            std::chrono::milliseconds(r["error"].as_object()["retry_after_ms"].as_int64()));
      }
    }
  }
  auto after = stored();
  EXPECT_EQ(after.size(), acked.size());
  for (const auto& [k, n] : after) EXPECT_EQ(n, 1) << k;
}

}  // namespace
