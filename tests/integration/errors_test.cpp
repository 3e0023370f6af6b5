// Bad input gets a typed error while the connection and the server stay healthy.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {
std::string code_of(const boost::json::object& f) {
  return std::string(f.at("error").as_object().at("code").as_string());
}

// The next reply with id null (frames that could not be read as requests).
boost::json::object null_reply(ws_client& c) {
  auto f = c.next_frame(5s);
  if (!f) throw std::runtime_error("no reply");
  return *f;
}

void expect_healthy(ws_client& c) {
  auto r = c.call({{"op", "ping"}});
  EXPECT_TRUE(r.contains("ts"));
}
}  // namespace

class Errors : public ::testing::Test {
 protected:
  server_process srv;
  account ann = register_and_login(srv.port(), "ann");
  account bob = register_and_login(srv.port(), "bob");
};

TEST_F(Errors, MalformedFramesGetInvalidWithNullId) {
  ws_client c(srv.port(), ann.token);
  for (std::string bad : {"{not json", "[1,2,3]", "\"str\"", "{\"op\":\"ping\"}",
                          "{\"id\":{},\"op\":\"ping\"}", "{\"id\":1.5,\"op\":\"ping\"}"}) {
    c.send_text(bad);
    auto f = null_reply(c);
    EXPECT_TRUE(f["id"].is_null()) << bad;
    EXPECT_EQ(code_of(f), "invalid") << bad;
  }
  c.send_binary("\x01\x02");
  EXPECT_EQ(code_of(null_reply(c)), "invalid");
  std::string deep(40, '[');
  c.send_text("{\"id\":1,\"op\":\"ping\",\"x\":" + deep + std::string(40, ']') + "}");
  EXPECT_EQ(code_of(null_reply(c)), "invalid");
  expect_healthy(c);
}

TEST_F(Errors, UnknownOperationAndBadArguments) {
  ws_client c(srv.port(), ann.token);
  auto r = c.request({{"op", "launch.rockets"}});
  EXPECT_EQ(code_of(r), "invalid");
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "op");
  r = c.request({{"op", "send"}, {"conv", "x"}, {"client_msg_id", "a"}, {"text", "t"}});
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "conv");
  r = c.request({{"op", "conv.create"}, {"kind", "group"}, {"title", "bad\x01title"}});
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "title");
  r = c.request({{"op", "history"}, {"conv", 1}, {"limit", 100000}});
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "limit");
  expect_healthy(c);
}

TEST_F(Errors, OversizeFrameIsRejectedAndConnectionStays) {
  ws_client c(srv.port(), ann.token);
  std::string big = "{\"id\":1,\"op\":\"ping\",\"pad\":\"" + std::string(100 * 1024, 'x') + "\"}";
  c.send_text(big);
  auto f = null_reply(c);
  EXPECT_EQ(code_of(f), "too_large");
  expect_healthy(c);
  auto conv = create_group(c, "g", {});
  auto r = c.request({{"op", "send"},
                      {"conv", conv},
                      {"client_msg_id", "big"},
                      {"text", std::string(20000, 'y')}});
  EXPECT_EQ(code_of(r), "too_large");
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "text");
  expect_healthy(c);
}

TEST_F(Errors, FrameAboveHardLimitClosesWith1009) {
  ws_client c(srv.port(), ann.token);
  try {
    c.send_text(std::string(2 * 1024 * 1024, ' '));
  } catch (const std::exception&) {
    // The server may close while the client is still writing.
  }
  // 1009, unless the reset of the unread rest of the message overtook the close frame.
  auto code = c.wait_closed();
  EXPECT_TRUE(code == 1009 || code == 0) << code;
  ws_client d(srv.port(), ann.token);  // the server is fine
  expect_healthy(d);
}

TEST_F(Errors, WrongTokenIsUnauthenticated) {
  ws_client c(srv.port());
  auto r = c.request({{"op", "auth"}, {"token", "pt_wrong"}});
  EXPECT_EQ(code_of(r), "unauthenticated");
  r = c.request({{"op", "conv.list"}});
  EXPECT_EQ(code_of(r), "unauthenticated");
  c.call({{"op", "auth"}, {"token", ann.token}});
  expect_healthy(c);
  EXPECT_THROW(ws_client(srv.port(), "pt_wrong"), std::exception);  // 401 at the handshake
}

TEST_F(Errors, NonMemberGetsNotFoundIndistinguishableFromMissing) {
  ws_client a(srv.port(), ann.token);
  ws_client b(srv.port(), bob.token);
  auto conv = create_group(a, "private", {});
  for (std::int64_t id : {conv, conv + 1000}) {
    EXPECT_EQ(code_of(b.request({{"op", "send"},
                                 {"conv", id},
                                 {"client_msg_id", "x" + std::to_string(id)},
                                 {"text", "hi"}})),
              "not_found");
    EXPECT_EQ(code_of(b.request({{"op", "history"}, {"conv", id}})), "not_found");
    EXPECT_EQ(code_of(b.request({{"op", "conv.get"}, {"conv", id}})), "not_found");
    EXPECT_EQ(code_of(b.request({{"op", "members.add"}, {"conv", id}, {"user", "bob"}})),
              "not_found");
  }
  expect_healthy(b);
}

TEST_F(Errors, RolesAreEnforced) {
  register_and_login(srv.port(), "cat");
  ws_client a(srv.port(), ann.token);
  ws_client b(srv.port(), bob.token);
  auto conv = create_group(a, "g", {"bob"});
  EXPECT_EQ(code_of(b.request({{"op", "members.add"}, {"conv", conv}, {"user", "cat"}})),
            "forbidden");
  EXPECT_EQ(code_of(b.request({{"op", "conv.update"}, {"conv", conv}, {"title", "mine"}})),
            "forbidden");
  EXPECT_EQ(code_of(b.request({{"op", "members.remove"}, {"conv", conv}, {"user", "ann"}})),
            "forbidden");
  a.call({{"op", "members.set_role"}, {"conv", conv}, {"user", "bob"}, {"role", "admin"}});
  b.call({{"op", "members.add"}, {"conv", conv}, {"user", "cat"}});
  EXPECT_EQ(code_of(b.request({{"op", "members.add"}, {"conv", conv}, {"user", "cat"}})),
            "conflict");
  EXPECT_EQ(code_of(b.request({{"op", "members.remove"}, {"conv", conv}, {"user", "ann"}})),
            "forbidden");
  b.call({{"op", "members.remove"}, {"conv", conv}, {"user", "cat"}});
  b.call({{"op", "conv.update"}, {"conv", conv}, {"title", "renamed"}});
  auto h = a.call({{"op", "history"}, {"conv", conv}});
  std::vector<std::string> types;
  for (auto& e : h["events"].as_array()) types.emplace_back(e.as_object().at("type").as_string());
  EXPECT_EQ(types,
            (std::vector<std::string>{"conversation.created", "member.updated", "member.joined",
                                      "member.left", "conversation.updated"}));
}

TEST_F(Errors, ReusedClientMsgIdInAnotherConversationIsConflict) {
  ws_client a(srv.port(), ann.token);
  auto c1 = create_group(a, "one", {});
  auto c2 = create_group(a, "two", {});
  send_text(a, c1, "same", "x");
  auto r = a.request({{"op", "send"}, {"conv", c2}, {"client_msg_id", "same"}, {"text", "x"}});
  EXPECT_EQ(code_of(r), "conflict");
  EXPECT_EQ(a.call({{"op", "history"}, {"conv", c2}})["events"].as_array().size(), 1u);
}

TEST_F(Errors, OwnerLeavingHandsOwnershipToTheLongestStandingAdmin) {
  register_and_login(srv.port(), "cat");
  ws_client a(srv.port(), ann.token);
  auto conv = create_group(a, "g", {"bob"});
  a.call({{"op", "members.add"}, {"conv", conv}, {"user", "cat"}, {"role", "admin"}});
  a.call({{"op", "members.remove"}, {"conv", conv}, {"user", "ann"}});
  ws_client c(srv.port(), login(srv.port(), "cat"));
  auto h = c.call({{"op", "history"}, {"conv", conv}});
  auto evs = h["events"].as_array();
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[2].as_object().at("type").as_string(), "member.left");
  auto up = evs[3].as_object();
  EXPECT_EQ(up.at("type").as_string(), "member.updated");
  EXPECT_EQ(up.at("data").as_object().at("user").as_object().at("handle").as_string(), "cat");
  EXPECT_EQ(up.at("data").as_object().at("role").as_string(), "owner");
  c.call({{"op", "members.set_role"}, {"conv", conv}, {"user", "bob"}, {"role", "admin"}});
}
