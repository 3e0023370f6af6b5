// `parley serve` on the PostgreSQL backend (store.backend = "postgres"): accounts,
// conversations and history live in the database and survive a restart. Needs
// PARLEY_PG_URL (the CTest entry `pg`); skips without it.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "chat_helpers.hpp"
#include "pg_test_db.hpp"
#include "server_process.hpp"

using namespace parley::test;

TEST(Postgres, ServesAndKeepsHistoryAcrossARestart) {
  if (pg_url().empty()) GTEST_SKIP() << kNoPgMessage;
  temp_pg_db db;
  // The test cluster trusts loopback, so the password is not checked; it must not be
  // repeated anywhere (log, metrics).
  const std::string secret = "pg-secret-in-url";
  server_process srv({"--set", "store.backend=postgres", "--set",
                      "store.postgres_url=" + db.conninfo() + " password='" + secret + "'"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  std::int64_t conv = 0;
  std::vector<std::int64_t> ann_seqs;
  {
    ws_client a(srv.port(), ann.token);
    ws_client b(srv.port(), bob.token);
    conv = create_group(a, "pg", {"bob"});
    for (int i = 0; i < 5; ++i) {
      auto i_s = std::to_string(i);
      ann_seqs.push_back(send_text(a, conv, "a" + i_s, "from ann " + i_s)["seq"].as_int64());
    }
    for (int i = 0; i < 5; ++i)
      send_text(b, conv, "b" + std::to_string(i), "from bob " + std::to_string(i));
    // A resent client_msg_id is acknowledged with the original seq, not stored twice.
    EXPECT_EQ(send_text(a, conv, "a0", "from ann 0")["seq"].as_int64(), ann_seqs[0]);
  }
  srv.stop();
  // Nothing lives in data_dir: the restarted server finds everything in PostgreSQL.
  srv.start();
  EXPECT_FALSE(login(srv.port(), "bob").empty());  // accounts too
  ws_client b(srv.port(), bob.token);
  auto history = full_history(b, conv);
  std::vector<std::string> texts;
  for (auto& e : history) {
    if (e["type"].as_string() != "message.created") continue;
    texts.emplace_back(e["data"].as_object()["text"].as_string());
  }
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) want.push_back("from ann " + std::to_string(i));
  for (int i = 0; i < 5; ++i) want.push_back("from bob " + std::to_string(i));
  EXPECT_EQ(texts, want);
  for (std::size_t i = 1; i < history.size(); ++i)
    EXPECT_EQ(history[i]["seq"].as_int64(), history[i - 1]["seq"].as_int64() + 1);
  // Search runs on PostgreSQL full-text search once the indexer has caught up.
  EXPECT_TRUE(eventually(
      [&] {
        auto r = b.call({{"op", "search"}, {"query", "bob"}});
        return r["results"].as_array().size() == 5;
      },
      10s));
  auto r = b.call({{"op", "search"}, {"query", "ann 3"}});
  ASSERT_EQ(r["results"].as_array().size(), 1u);
  EXPECT_EQ(r["results"].as_array()[0].as_object()["seq"].as_int64(), ann_seqs[3]);
  EXPECT_EQ(http(srv.port(), "GET", "/metrics").body.find(secret), std::string::npos);
  srv.stop();
  std::ifstream log(srv.log_path());
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("backend=postgres"), std::string::npos);
  EXPECT_EQ(text.find(secret), std::string::npos);
}
