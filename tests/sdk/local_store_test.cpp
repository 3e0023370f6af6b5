#include "parley/sdk/local_store.hpp"
#include "store/sqlite/sqlite_db.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace parley::sdk;

namespace {
std::string temp_file() {
  char tmpl[] = "/tmp/parley-sdk-XXXXXX";
  return std::string(mkdtemp(tmpl)) + "/client.db";
}
}  // namespace

TEST(LocalStore, OutboxSurvivesReopenInOrder) {
  auto path = temp_file();
  std::vector<std::string> ids;
  {
    local_store s(path);
    for (int i = 0; i < 5; ++i) ids.push_back(s.enqueue(10 + i % 2, "m" + std::to_string(i)));
    s.remove(ids[1]);
  }
  local_store s(path);
  auto p = s.pending();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].client_msg_id, ids[0]);
  EXPECT_EQ(p[1].client_msg_id, ids[2]);
  EXPECT_EQ(p[1].text, "m2");
  EXPECT_EQ(p[1].conv, 10);
  EXPECT_EQ(p[3].client_msg_id, ids[4]);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(LocalStore, RepliesAndThreadRepliesKeepTheirTargetsAcrossReopen) {
  auto path = temp_file();
  {
    local_store s(path);
    s.enqueue(7, "plain");
    s.enqueue(7, "quote", 3, 0);
    s.enqueue(7, "thread", 0, 5);
  }
  local_store s(path);
  auto p = s.pending();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].reply_to, 0);
  EXPECT_EQ(p[0].thread, 0);
  EXPECT_EQ(p[1].reply_to, 3);
  EXPECT_EQ(p[2].thread, 5);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(LocalStore, OutboxFromBeforeThreadsGainsTheColumns) {
  auto path = temp_file();
  {
    parley::sqlite::db d(path, false);
    d.exec(
        "CREATE TABLE outbox(n INTEGER PRIMARY KEY AUTOINCREMENT, conv INTEGER NOT NULL, "
        "client_msg_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL);"
        "INSERT INTO outbox(conv, client_msg_id, text) VALUES (4, 'old:1', 'from before');");
  }
  local_store s(path);
  auto p = s.pending();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "from before");
  EXPECT_EQ(p[0].thread, 0);
  EXPECT_EQ(p[0].attachments, "");
  s.enqueue(4, "new", 0, 9);
  EXPECT_EQ(s.pending().at(1).thread, 9);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(LocalStore, AttachmentsOfAQueuedSendSurviveReopen) {
  auto path = temp_file();
  const std::string atts = R"([{"id":"aa","name":"cat.png"}])";
  {
    local_store s(path);
    s.enqueue(3, "", 0, 0, atts);
  }
  local_store s(path);
  auto p = s.pending();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].attachments, atts);
  EXPECT_EQ(p[0].text, "");
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(LocalStore, ClientMsgIdsAreUniqueForeverAndPerDevice) {
  auto path = temp_file();
  std::string first, later;
  {
    local_store s(path);
    first = s.enqueue(1, "a");
    s.remove(first);
  }
  {
    local_store s(path);
    later = s.enqueue(1, "b");  // after the outbox emptied and the file reopened
  }
  EXPECT_NE(first, later);
  EXPECT_EQ(first.substr(0, first.find(':')), later.substr(0, later.find(':')));
  local_store other(":memory:");
  auto o = other.enqueue(1, "c");
  EXPECT_NE(o.substr(0, o.find(':')), first.substr(0, first.find(':')))
      << "another device, another prefix";
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(LocalStore, PositionsOnlyMoveForward) {
  auto path = temp_file();
  {
    local_store s(path);
    s.save_positions({{1, 5}, {2, 9}});
    s.save_positions({{1, 3}});
  }
  local_store s(path);
  auto p = s.positions();
  EXPECT_EQ(p[1], 5);
  EXPECT_EQ(p[2], 9);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
