#include "parley/sdk/local_store.hpp"

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
