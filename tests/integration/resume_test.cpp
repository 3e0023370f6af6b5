// Resume: an offline member gets everything it missed, in order, exactly once; the switch
// from replay to live under concurrent sends has no gap and no duplicate; pruned history
// is announced, never skipped silently.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {

// Runs `parley prune` on a stopped server's data directory.
int run_prune(const std::string& data_dir, std::int64_t conv, std::int64_t before) {
  std::string cmd = parley_bin() + " prune --data-dir " + data_dir + " --conv " +
                    std::to_string(conv) + " --before " + std::to_string(before) + " > /dev/null";
  return std::system(cmd.c_str());
}
}  // namespace

TEST(Resume, OfflineMemberGetsEverythingInOrderExactlyOnce) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  send_text(*a, conv, "a-0", "before");
  std::int64_t seen = 0;
  {
    auto b = std::make_unique<ws_client>(srv.port(), bob.token);
    b->call({{"op", "sync"}, {"since", since(conv, 0)}});
    auto evs = b->events(2);
    seen = evs.back()["seq"].as_int64();
    EXPECT_EQ(seen, 2);
  }  // bob goes offline
  for (int i = 1; i <= 20; ++i)
    send_text(*a, conv, "a-" + std::to_string(i), "missed " + std::to_string(i));

  ws_client b(srv.port(), bob.token);
  auto id = b.send_request({{"op", "sync"}, {"since", since(conv, seen)}});
  // Replayed events come first, then the sync reply.
  for (int i = 1; i <= 20; ++i) {
    auto f = b.next_frame(5s);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE(f->contains("ev")) << boost::json::serialize(*f);
    auto ev = (*f)["ev"].as_object();
    EXPECT_EQ(ev["seq"].as_int64(), seen + i);
    EXPECT_EQ(ev["data"].as_object()["text"].as_string(), "missed " + std::to_string(i));
  }
  auto reply = b.next_frame(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["id"].as_int64(), id);
  EXPECT_EQ(
      (*reply)["result"].as_object()["positions"].as_object()[std::to_string(conv)].as_int64(), 22);
  // Then live.
  send_text(*a, conv, "a-live", "live");
  auto live = b.events(1)[0];
  EXPECT_EQ(live["seq"].as_int64(), 23);
  EXPECT_FALSE(b.next_push(200ms).has_value());
}

TEST(Resume, NewDeviceWithoutPositionsGetsConversationsFromJoin) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  send_text(*a, conv, "a-1", "one");
  // bob's new device syncs with an empty map: everything since bob joined.
  ws_client b(srv.port(), login(srv.port(), "bob"));
  b.call({{"op", "sync"}, {"since", boost::json::object{}}});
  auto evs = b.events(2);
  EXPECT_EQ(evs[0]["type"].as_string(), "conversation.created");
  EXPECT_EQ(evs[1]["seq"].as_int64(), 2);
}

TEST(Resume, SwitchFromReplayToLiveUnderConcurrentSendsHasNoGapOrDuplicate) {
  // (ann sends as fast as she can: rate limits are off here)
  server_process srv({"--set", "limits.replay_batch=16", "--set",
                      "limits.max_inflight_requests=1000", "--set", "rate.enabled=off"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  for (int i = 0; i < 100; ++i) send_text(*a, conv, "pre-" + std::to_string(i), "pre");

  constexpr int kDuring = 300;
  std::thread sender([&] {
    ws_client c(srv.port(), ann.token);
    for (int i = 0; i < kDuring; ++i)
      c.send_request({{"op", "send"},
                      {"conv", conv},
                      {"client_msg_id", "during-" + std::to_string(i)},
                      {"text", "during"}});
    int acks = 0;
    while (acks < kDuring) {
      auto f = c.next_frame(10s);
      if (!f) break;
      if (f->contains("result")) ++acks;
    }
  });
  ws_client b(srv.port(), bob.token);
  b.send_request({{"op", "sync"}, {"since", since(conv, 0)}});
  std::int64_t expect = 1;
  const std::int64_t last = 1 + 100 + kDuring;
  while (expect <= last) {
    auto f = b.next_frame(10s);
    ASSERT_TRUE(f.has_value()) << "stalled waiting for seq " << expect;
    if (!f->contains("ev")) continue;  // the sync reply
    auto seq = (*f)["ev"].as_object()["seq"].as_int64();
    ASSERT_EQ(seq, expect) << "gap or duplicate at the replay/live switch";
    ++expect;
  }
  sender.join();
  EXPECT_FALSE(b.next_push(200ms).has_value());
}

TEST(Resume, RecentEventsComeFromTheCacheOlderOnesFromTheDatabase) {
  server_process srv({"--set", "store.cache_events_per_conv=10"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});  // seq 1: conversation.created
  for (int i = 2; i <= 30; ++i)
    send_text(*a, conv, "m-" + std::to_string(i), "text " + std::to_string(i));
  auto replay = [&](std::int64_t from) {
    ws_client c(srv.port(), ann.token);
    c.send_request({{"op", "sync"}, {"since", since(conv, from)}});
    auto evs = c.events(static_cast<std::size_t>(30 - from));
    for (std::size_t i = 0; i < evs.size(); ++i) {
      auto seq = from + 1 + static_cast<std::int64_t>(i);
      EXPECT_EQ(evs[i]["seq"].as_int64(), seq);
      EXPECT_EQ(evs[i]["data"].as_object()["text"].as_string(), "text " + std::to_string(seq));
    }
  };
  auto hits0 = metric(srv.port(), "parley_event_cache_hits_total");
  auto misses0 = metric(srv.port(), "parley_event_cache_misses_total");
  ASSERT_GE(hits0, 0);
  replay(24);  // 25..30: the newest 10 are cached
  EXPECT_GT(metric(srv.port(), "parley_event_cache_hits_total"), hits0);
  EXPECT_EQ(metric(srv.port(), "parley_event_cache_misses_total"), misses0);
  replay(5);  // 6..30: older than the cache, read from SQLite
  EXPECT_GT(metric(srv.port(), "parley_event_cache_misses_total"), misses0);
  EXPECT_EQ(metric(srv.port(), "parley_event_cache_events"), 10);
  // The newest page of 5 (6 read, to know has_more) is in the cache.
  auto h = a->call({{"op", "history"}, {"conv", conv}, {"limit", 5}});
  ASSERT_EQ(h["events"].as_array().size(), 5u);
  EXPECT_EQ(h["events"].as_array()[4].as_object()["seq"].as_int64(), 30);
  EXPECT_TRUE(h["has_more"].as_bool());
}

TEST(Resume, PrunedHistoryIsAnnouncedNotSkipped) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  for (int i = 0; i < 10; ++i)
    send_text(*a, conv, "m-" + std::to_string(i), "m" + std::to_string(i));
  a.reset();
  ASSERT_EQ(srv.stop(), 0);
  ASSERT_EQ(run_prune(srv.data_dir() + "/data", conv, 6), 0);
  srv.start();

  ws_client c(srv.port(), ann.token);
  c.send_request({{"op", "sync"}, {"since", since(conv, 2)}});
  auto notice = c.next_push(5s);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ((*notice)["notice"].as_string(), "history_pruned");
  EXPECT_EQ((*notice)["conv"].as_int64(), conv);
  EXPECT_EQ((*notice)["from_seq"].as_int64(), 3);
  EXPECT_EQ((*notice)["to_seq"].as_int64(), 5);
  auto evs = c.events(6);
  for (std::size_t i = 0; i < evs.size(); ++i)
    EXPECT_EQ(evs[i]["seq"].as_int64(), static_cast<std::int64_t>(6 + i));
  auto hist = c.call({{"op", "history"}, {"conv", conv}, {"limit", 50}});
  EXPECT_EQ(hist["first_seq"].as_int64(), 6);
  EXPECT_EQ(hist["events"].as_array().size(), 6u);
}

TEST(Resume, RemovedMemberGetsTheRemovalThenNothing) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b = connect_live(srv.port(), bob.token);
  a->call({{"op", "members.remove"}, {"conv", conv}, {"user", "bob"}});
  auto ev = b->events(1)[0];
  EXPECT_EQ(ev["type"].as_string(), "member.left");
  send_text(*a, conv, "after", "not for bob");
  EXPECT_FALSE(b->next_push(300ms).has_value());
  auto r = b->request({{"op", "send"}, {"conv", conv}, {"client_msg_id", "b1"}, {"text", "x"}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "forbidden");
  auto h = b->call({{"op", "history"}, {"conv", conv}});
  EXPECT_EQ(h["last_seq"].as_int64(), 2);
  EXPECT_EQ(h["events"].as_array().size(), 2u);
}

TEST(Resume, PositionBeyondTheLogIsResetAndStrangersConversationsIgnored) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  ws_client b(srv.port(), bob.token);
  auto bconv = create_group(b, "bob's", {});
  send_text(*a, conv, "m1", "one");  // seq 2
  ws_client c(srv.port(), ann.token);
  auto r =
      c.call({{"op", "sync"},
              {"since", boost::json::object{
                            {std::to_string(conv), 40}, {std::to_string(bconv), 0}, {"999", 0}}}});
  auto notice = c.next_push(5s);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ((*notice)["notice"].as_string(), "position_reset");
  EXPECT_EQ((*notice)["seq"].as_int64(), 2);
  auto pos = r["positions"].as_object();
  EXPECT_EQ(pos.size(), 1u) << "only conversations the user belongs to";
  EXPECT_EQ(pos[std::to_string(conv)].as_int64(), 2);
  send_text(*a, conv, "m2", "two");
  EXPECT_EQ(c.events(1)[0]["seq"].as_int64(), 3);
}
