// kill -9 the server right after a burst of acks: after restart every acknowledged message
// is there exactly once, and resending everything (acked or not) stores nothing twice.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {

// `checkpoint_pages`: store.checkpoint_pages (0: the default).
void acked_messages_survive_kill9(int checkpoint_pages) {
  std::vector<std::string> args;
  if (checkpoint_pages > 0)
    args = {"--set", "store.checkpoint_pages=" + std::to_string(checkpoint_pages)};
  server_process srv(args);
  auto ann = register_and_login(srv.port(), "ann");
  std::int64_t conv;
  std::map<std::string, std::int64_t> acked;  // client_msg_id -> seq
  constexpr int kBurst = 300;
  {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {});
    std::map<std::int64_t, std::string> cmid_of;
    for (int i = 0; i < kBurst; ++i) {
      auto cmid = "m-" + std::to_string(i);
      cmid_of[c.send_request(
          {{"op", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"text", cmid}})] = cmid;
    }
    // Collect about half the acks, then kill the server while the rest are in flight.
    while (acked.size() < kBurst / 2) {
      auto f = c.next_frame(10s);
      ASSERT_TRUE(f.has_value());
      if (f->contains("result"))
        acked[cmid_of[(*f)["id"].as_int64()]] = (*f)["result"].as_object()["seq"].as_int64();
    }
    // With a small WAL threshold checkpoints run beside the writer all along.
    if (checkpoint_pages > 0) {
      EXPECT_GT(metric(srv.port(), "parley_wal_checkpoints_total"), 0);
    }
    srv.kill9();
  }
  srv.start();
  ws_client c(srv.port(), ann.token);
  auto before = full_history(c, conv);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i]["seq"].as_int64(), static_cast<std::int64_t>(i + 1)) << "gapless";
    if (before[i]["type"] != "message.created") continue;
    std::string cmid(before[i]["client_msg_id"].as_string());
    EXPECT_TRUE(seen.insert(cmid).second) << "duplicate " << cmid;
  }
  for (auto& [cmid, seq] : acked) {
    ASSERT_TRUE(seen.count(cmid)) << "acknowledged message lost: " << cmid;
    EXPECT_EQ(before[static_cast<std::size_t>(seq - 1)]["client_msg_id"].as_string(), cmid);
  }
  // The client resends everything it has not seen acknowledged (here: everything).
  for (int i = 0; i < kBurst; ++i) {
    auto cmid = "m-" + std::to_string(i);
    auto r = send_text(c, conv, cmid, cmid);
    if (acked.count(cmid)) {
      EXPECT_TRUE(r["duplicate"].as_bool());
      EXPECT_EQ(r["seq"].as_int64(), acked[cmid]);
    }
  }
  auto after = full_history(c, conv);
  EXPECT_EQ(after.size(), static_cast<std::size_t>(kBurst + 1)) << "every message exactly once";
}

}  // namespace

TEST(Crash, AckedMessagesSurviveKill9ExactlyOnce) {
  acked_messages_survive_kill9(0);
}

TEST(Crash, AckedMessagesSurviveKill9WhileTheWalIsCheckpointedBesideTheWriter) {
  acked_messages_survive_kill9(8);
}
