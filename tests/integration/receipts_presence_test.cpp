// Delivery and read receipts, typing and presence against the real binary, with two
// devices per user: receipts are monotonic and batched to the members, private read
// receipts stay with their owner, typing reaches the others (not the typist's devices)
// and expires, presence is coalesced, visible only to contacts, and a killed client goes
// offline. Receipts, typing and presence come back as current state after a resume.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <functional>
#include <optional>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

// The next notice of `kind` that satisfies `pred` within `timeout` (others are skipped).
std::optional<json::object> await_notice(ws_client& c, const std::string& kind,
                                         const std::function<bool(const json::object&)>& pred,
                                         std::chrono::milliseconds timeout = 5s) {
  c.keep_state_notices();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto f = c.next_push(left);
    if (!f) return std::nullopt;
    if (auto* n = f->if_contains("notice");
        n && n->is_string() && n->as_string() == kind && pred(*f))
      return *f;
  }
}

auto any = [](const json::object&) { return true; };

std::int64_t at(const json::object& o, const char* section, std::int64_t user) {
  auto* s = o.if_contains(section);
  if (!s || !s->is_object()) return -1;
  auto* v = s->as_object().if_contains(std::to_string(user));
  return v && v->is_int64() ? v->as_int64() : -1;
}

std::vector<std::string> fast_presence() {
  return {"--set", "presence.flush_ms=100", "--set", "presence.receipts_flush_ms=50"};
}

}  // namespace

TEST(Receipts, DeliveredAndReadReachTheMembersMonotonicallyAndPrivatelyWhenAsked) {
  server_process srv(fast_presence());
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto eve = register_and_login(srv.port(), "eve");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b1 = connect_live(srv.port(), bob.token);
  auto b2 = connect_live(srv.port(), login(srv.port(), "bob"));
  for (int i = 0; i < 3; ++i) send_text(*a, conv, "m" + std::to_string(i), "hello");  // 2..4

  // Device 1 has everything, device 2 acknowledges less later: bob's position stays.
  auto r = b1->call({{"op", "ack"}, {"positions", since(conv, 4)}});
  EXPECT_EQ(r["positions"].as_object()[std::to_string(conv)].as_int64(), 4);
  auto n = await_notice(*a, "receipts",
                        [&](const json::object& o) { return at(o, "delivered", bob.id) == 4; });
  ASSERT_TRUE(n) << "ann hears that bob's devices have seq 4";
  r = b2->call({{"op", "ack"}, {"positions", since(conv, 3)}});
  EXPECT_EQ(r["positions"].as_object()[std::to_string(conv)].as_int64(), 4);
  auto rs = a->call({{"op", "receipts"}, {"conv", conv}});
  bool seen = false;
  for (const auto& x : rs["receipts"].as_array())
    if (x.as_object().at("user").as_int64() == bob.id) {
      EXPECT_EQ(x.as_object().at("delivered").as_int64(), 4);
      seen = true;
    }
  EXPECT_TRUE(seen);

  // Receipts for what one cannot see are refused.
  auto bad = b1->request({{"op", "ack"}, {"positions", since(conv, 99)}});
  EXPECT_EQ(bad["error"].as_object()["code"].as_string(), "invalid");
  auto e = connect_live(srv.port(), eve.token);
  bad = e->request({{"op", "ack"}, {"positions", since(conv, 1)}});
  EXPECT_EQ(bad["error"].as_object()["code"].as_string(), "not_found");
  bad = e->request({{"op", "receipts"}, {"conv", conv}});
  EXPECT_EQ(bad["error"].as_object()["code"].as_string(), "not_found");

  // Reading: ann hears it; bob's other device gets his read position.
  b1->call({{"op", "read"}, {"conv", conv}, {"seq", 3}});
  EXPECT_TRUE(await_notice(*a, "receipts",
                           [&](const json::object& o) { return at(o, "read", bob.id) == 3; }));
  EXPECT_TRUE(await_notice(*b2, "read",
                           [&](const json::object& o) { return o.at("seq").as_int64() == 3; }));

  // Private read receipts: ann no longer learns bob's reads; bob's devices still sync.
  auto s = b1->call({{"op", "settings"}, {"private_receipts", true}});
  EXPECT_TRUE(s["private_receipts"].as_bool());
  b1->call({{"op", "read"}, {"conv", conv}, {"seq", 4}});
  EXPECT_TRUE(await_notice(*b2, "read",
                           [&](const json::object& o) { return o.at("seq").as_int64() == 4; }));
  EXPECT_FALSE(await_notice(
      *a, "receipts", [&](const json::object& o) { return at(o, "read", bob.id) >= 0; }, 600ms));
  auto seen_by_ann = a->call({{"op", "receipts"}, {"conv", conv}});
  for (const auto& x : seen_by_ann["receipts"].as_array()) {
    if (x.as_object().at("user").as_int64() == bob.id) {
      EXPECT_FALSE(x.as_object().contains("read"));
    }
  }
  auto seen_by_bob = b2->call({{"op", "receipts"}, {"conv", conv}});
  for (const auto& x : seen_by_bob["receipts"].as_array()) {
    if (x.as_object().at("user").as_int64() == bob.id) {
      EXPECT_EQ(x.as_object().at("read").as_int64(), 4);
    }
  }
}

TEST(Receipts, ComeBackOnResume) {
  server_process srv(fast_presence());
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  std::int64_t conv = 0;
  {
    auto a = connect_live(srv.port(), ann.token);
    conv = create_group(*a, "g", {"bob"});
    send_text(*a, conv, "x", "while you were away");
  }  // ann is offline now
  auto b = connect_live(srv.port(), bob.token);
  b->call({{"op", "ack"}, {"positions", since(conv, 2)}});
  b->call({{"op", "read"}, {"conv", conv}, {"seq", 2}});
  ws_client a(srv.port(), ann.token);
  a.call({{"op", "sync"}, {"since", since(conv, 2)}});
  auto n = await_notice(a, "receipts", [&](const json::object& o) {
    return o.at("conv").as_int64() == conv && at(o, "delivered", bob.id) == 2 &&
           at(o, "read", bob.id) == 2;
  });
  EXPECT_TRUE(n) << "the current receipts follow the sync";
}

TEST(Typing, ReachesOtherMembersOnlyIsThrottledAndExpires) {
  server_process srv(fast_presence());
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto eve = register_and_login(srv.port(), "eve");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b1 = connect_live(srv.port(), bob.token);
  auto b2 = connect_live(srv.port(), login(srv.port(), "bob"));

  b1->call({{"op", "typing"}, {"conv", conv}});
  auto n = await_notice(*a, "typing", any);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->at("user").as_int64(), bob.id);
  EXPECT_TRUE(n->at("typing").as_bool());
  EXPECT_EQ(n->at("expires_ms").as_int64(), 5000);
  // Again at once: throttled. Never echoed to bob's own devices.
  b1->call({{"op", "typing"}, {"conv", conv}});
  EXPECT_FALSE(await_notice(*a, "typing", any, 500ms));
  EXPECT_FALSE(await_notice(*b2, "typing", any, 100ms));
  b2->call({{"op", "typing"}, {"conv", conv}, {"typing", false}});
  n = await_notice(*a, "typing", any);
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->at("typing").as_bool());
  auto e = connect_live(srv.port(), eve.token);
  EXPECT_EQ(e->request({{"op", "typing"}, {"conv", conv}})["error"].as_object()["code"].as_string(),
            "not_found");

  // Current state on resume, until it expires.
  b1->call({{"op", "typing"}, {"conv", conv}});
  {
    ws_client a2(srv.port(), login(srv.port(), "ann"));
    a2.call({{"op", "sync"}, {"since", since(conv, 1)}});
    EXPECT_TRUE(await_notice(a2, "typing",
                             [&](const json::object& o) { return o.at("typing").as_bool(); }));
  }
  std::this_thread::sleep_for(5200ms);
  ws_client a3(srv.port(), login(srv.port(), "ann"));
  a3.call({{"op", "sync"}, {"since", since(conv, 1)}});
  EXPECT_FALSE(await_notice(a3, "typing", any, 500ms)) << "expired after 5 s without a new start";
}

TEST(Presence, ContactsSeeOnlineAwayOfflineAndStrangersNothing) {
  server_process srv(fast_presence());
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto eve = register_and_login(srv.port(), "eve");
  auto a = connect_live(srv.port(), ann.token);
  create_group(*a, "g", {"bob"});
  auto e = connect_live(srv.port(), eve.token);
  auto for_bob = [&](const std::string& state) {
    return [&, state](const json::object& o) {
      return o.contains("user") && o.at("user").as_int64() == bob.id &&
             o.at("state").as_string() == state;
    };
  };
  auto b = connect_live(srv.port(), bob.token);
  EXPECT_TRUE(await_notice(*a, "presence", for_bob("online")));
  b->call({{"op", "presence"}, {"state", "away"}});
  EXPECT_TRUE(await_notice(*a, "presence", for_bob("away")));
  b->call({{"op", "presence"}, {"state", "active"}});
  EXPECT_TRUE(await_notice(*a, "presence", for_bob("online")));
  auto list = a->call({{"op", "presence.get"}})["presence"].as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].as_object().at("state").as_string(), "online");
  EXPECT_TRUE(e->call({{"op", "presence.get"}})["presence"].as_array().empty());
  b->close();
  auto off = await_notice(*a, "presence", for_bob("offline"));
  ASSERT_TRUE(off);
  EXPECT_GT(off->at("last_seen").as_int64(), 0);
  EXPECT_FALSE(await_notice(
      *e, "presence",
      [&](const json::object& o) {
        return o.contains("user") && o.at("user").as_int64() == bob.id;
      },
      300ms))
      << "eve shares no conversation with bob";

  // Invisible: online for himself, offline for everyone else.
  auto b2 = connect_live(srv.port(), bob.token);
  EXPECT_TRUE(await_notice(*a, "presence", for_bob("online")));
  b2->call({{"op", "settings"}, {"invisible", true}});
  EXPECT_TRUE(await_notice(*a, "presence", for_bob("offline")));
  EXPECT_EQ(a->call({{"op", "presence.get"}})["presence"]
                .as_array()[0]
                .as_object()
                .at("state")
                .as_string(),
            "offline");
}

TEST(Presence, AReconnectWithinTheFlushIntervalAnnouncesNothing) {
  server_process srv({"--set", "presence.flush_ms=1500"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  create_group(*a, "g", {"bob"});
  auto b = connect_live(srv.port(), bob.token);
  auto about_bob = [&](const json::object& o) {
    return o.contains("user") && o.at("user").as_int64() == bob.id;
  };
  ASSERT_TRUE(await_notice(*a, "presence", about_bob, 4s));  // online
  b->close();
  b = connect_live(srv.port(), bob.token);  // back before the next announcement
  EXPECT_FALSE(await_notice(*a, "presence", about_bob, 3500ms));
}

TEST(Presence, AKilledClientGoesOfflineWithinTheHeartbeatTimeout) {
  server_process srv(
      {"--set", "presence.flush_ms=100", "--set", "websocket.heartbeat_timeout_ms=1000"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  create_group(*a, "g", {"bob"});
  pid_t pid = fork();
  if (pid == 0) {  // bob's app, killed below
    ws_client b(srv.port(), bob.token);
    b.call({{"op", "sync"}});
    for (;;) pause();
  }
  auto online = await_notice(*a, "presence", [&](const json::object& o) {
    return o.contains("user") && o.at("state").as_string() == "online";
  });
  ASSERT_TRUE(online);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto off = await_notice(
      *a, "presence",
      [&](const json::object& o) {
        return o.contains("user") && o.at("state").as_string() == "offline";
      },
      3s);
  ASSERT_TRUE(off);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);

  // A peer that stops answering (no close at all) is dropped by the heartbeat.
  ws_client silent(srv.port(), bob.token);
  silent.call({{"op", "sync"}});
  ASSERT_TRUE(await_notice(*a, "presence", [&](const json::object& o) {
    return o.contains("user") && o.at("state").as_string() == "online";
  }));
  t0 = std::chrono::steady_clock::now();
  off = await_notice(
      *a, "presence",
      [&](const json::object& o) {
        return o.contains("user") && o.at("state").as_string() == "offline";
      },
      4s);
  ASSERT_TRUE(off) << "silent peer dropped after the heartbeat timeout";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);
}

TEST(Presence, AnIdleDeviceBecomesAwayAndARequestMakesItOnlineAgain) {
  server_process srv({"--set", "presence.flush_ms=100", "--set", "presence.idle_s=1"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b = connect_live(srv.port(), bob.token);
  auto about_bob = [&](const std::string& state) {
    return [&, state](const json::object& o) {
      return o.contains("user") && o.at("user").as_int64() == bob.id &&
             o.at("state").as_string() == state;
    };
  };
  ASSERT_TRUE(await_notice(*a, "presence", about_bob("online")));
  // ann keeps her own connection busy; bob's only pings (heartbeats) do not count.
  EXPECT_TRUE(await_notice(*a, "presence", about_bob("away"), 4s)) << "idle for presence.idle_s";
  b->call({{"op", "ping"}});
  EXPECT_FALSE(await_notice(*a, "presence", about_bob("online"), 500ms))
      << "a ping is not activity";
  send_text(*b, conv, "back", "I'm back");
  EXPECT_TRUE(await_notice(*a, "presence", about_bob("online")));
}

TEST(Receipts, ThreadReadPositionsReachTheOtherMembers) {
  server_process srv(fast_presence());
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto root = send_text(*a, conv, "r", "root")["seq"].as_int64();
  auto reply = a->call({{"op", "send"},
                        {"conv", conv},
                        {"client_msg_id", "t1"},
                        {"text", "in thread"},
                        {"thread", root}})["seq"]
                   .as_int64();
  auto b = connect_live(srv.port(), bob.token);
  b->call({{"op", "read"}, {"conv", conv}, {"seq", reply}, {"thread", root}});
  auto n = await_notice(*a, "receipts", [&](const json::object& o) {
    return o.contains("thread") && o.at("thread").as_int64() == root &&
           at(o, "read", bob.id) == reply;
  });
  EXPECT_TRUE(n);
  auto rs = a->call({{"op", "receipts"}, {"conv", conv}, {"thread", root}});
  bool found = false;
  for (const auto& x : rs["receipts"].as_array())
    if (x.as_object().at("user").as_int64() == bob.id) {
      found = x.as_object().at("read").as_int64() == reply && !x.as_object().contains("delivered");
    }
  EXPECT_TRUE(found);
}

TEST(Presence, AReconnectStormAnnouncesNothing) {
  // (41 users register and log in from one address: rate limits are off here)
  server_process srv({"--set", "presence.flush_ms=2000", "--set", "rate.enabled=off"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  std::vector<std::string> handles;
  std::vector<account> users;
  for (int i = 0; i < 40; ++i) {
    users.push_back(register_and_login(srv.port(), "user" + std::to_string(i)));
    handles.push_back(users.back().handle);
  }
  create_group(*a, "many", handles);
  std::vector<std::unique_ptr<ws_client>> cs;
  for (auto& u : users) cs.push_back(connect_live(srv.port(), u.token));
  // Wait until all 40 were announced online once.
  int online = 0;
  while (online < 40 && await_notice(
                            *a, "presence",
                            [&](const json::object& o) {
                              return o.contains("user") && o.at("state").as_string() == "online";
                            },
                            5s))
    ++online;
  ASSERT_EQ(online, 40);
  // Everyone drops and comes back at once, within one flush interval.
  for (auto& c : cs) c->close();
  cs.clear();
  for (auto& u : users) cs.push_back(connect_live(srv.port(), u.token));
  EXPECT_FALSE(await_notice(
      *a, "presence", [&](const json::object& o) { return o.contains("user"); }, 4500ms))
      << "no presence notice for a storm of reconnects";
}
