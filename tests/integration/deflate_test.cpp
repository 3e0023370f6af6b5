// permessage-deflate against the real binary with a Beast client: one event going to several
// compressing connections of one I/O thread is compressed once, and every client reads it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

TEST(Deflate, AnEventForManyConnectionsIsCompressedOncePerThread) {
  server_process srv({"--set", "server.threads=1"});
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  std::vector<std::string> handles = {"bob", "carol", "dave", "erin"};
  std::vector<std::unique_ptr<ws_client>> readers;
  std::vector<account> users;
  for (const auto& h : handles) users.push_back(register_and_login(srv.port(), h));
  auto conv = create_group(*a, "g", {"bob", "carol", "dave", "erin"});
  for (const auto& u : users) {
    readers.push_back(std::make_unique<ws_client>(srv.port(), u.token, true));
    ASSERT_NE(readers.back()->extensions().find("client_no_context_takeover"), std::string::npos);
    readers.back()->call({{"op", "sync"}, {"since", since(conv, 1)}});
  }
  const long before = metric(srv.port(), "parley_ws_deflated_total");
  const long reused_before = metric(srv.port(), "parley_ws_deflate_reused_total");
  std::string text;
  for (int i = 0; text.size() < 1000; ++i) text += "word" + std::to_string(i % 7) + " ";
  send_text(*a, conv, "long", text);
  for (auto& r : readers) {
    auto evs = r->events(1);
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0]["data"].as_object()["text"].as_string(), text);
  }
  EXPECT_EQ(metric(srv.port(), "parley_ws_deflated_total") - before, 4);
  EXPECT_EQ(metric(srv.port(), "parley_ws_deflate_reused_total") - reused_before, 3);
  // The compressing clients' own compressed requests are read too.
  auto ack = readers[0]->call(
      {{"op", "send"}, {"conv", conv}, {"client_msg_id", "b1"}, {"text", text + "again"}});
  EXPECT_EQ(ack["seq"].as_int64(), 3);
  EXPECT_GE(metric(srv.port(), "parley_ws_inflated_total"), 1);
}

}  // namespace
