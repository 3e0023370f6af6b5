// Rich messages against the real binary: every event type (replies, thread replies,
// edits, reactions, deletes) arrives live and again on resume after a disconnect, with
// deleted content gone from the replay; read positions reach the user's other devices;
// the REST routes reach the same operations.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

TEST(RichMessages, EveryEventTypeArrivesLiveAndOnResumeWithDeletedContentGone) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});  // seq 1: conversation.created
  std::int64_t seen = 0;
  {
    ws_client b(srv.port(), bob.token);
    b.call({{"op", "sync"}, {"since", since(conv, 0)}});
    seen = b.events(1).back()["seq"].as_int64();
  }  // bob goes offline

  auto root = send_text(*a, conv, "a1", "root for @bob")["seq"].as_int64();
  a->call({{"op", "send"},
           {"conv", conv},
           {"client_msg_id", "a2"},
           {"text", "in thread"},
           {"thread", root}});
  auto quoting = a->call({{"op", "send"},
                          {"conv", conv},
                          {"client_msg_id", "a3"},
                          {"text", "quoting"},
                          {"reply_to", root}})["seq"]
                     .as_int64();
  a->call({{"op", "edit"}, {"conv", conv}, {"msg", quoting}, {"text", "quoting, edited"}});
  a->call({{"op", "react"}, {"conv", conv}, {"msg", root}, {"emoji", "🎉"}});
  auto secret = send_text(*a, conv, "a4", "top secret")["seq"].as_int64();
  a->call({{"op", "edit"}, {"conv", conv}, {"msg", secret}, {"text", "top secret 2"}});
  a->call({{"op", "delete"}, {"conv", conv}, {"msg", secret}});
  a->call({{"op", "unreact"}, {"conv", conv}, {"msg", root}, {"emoji", "🎉"}});

  ws_client b(srv.port(), bob.token);
  b.call({{"op", "sync"}, {"since", since(conv, seen)}});
  auto evs = b.events(9);
  std::vector<std::string> types;
  for (auto& e : evs) types.emplace_back(e["type"].as_string());
  EXPECT_EQ(types,
            (std::vector<std::string>{"message.created", "message.created", "message.created",
                                      "message.edited", "reaction.added", "message.created",
                                      "message.edited", "message.deleted", "reaction.removed"}));
  for (std::size_t i = 0; i < evs.size(); ++i)
    EXPECT_EQ(evs[i]["seq"].as_int64(), seen + 1 + static_cast<std::int64_t>(i));
  EXPECT_EQ(evs[0]["data"].as_object()["mentions"].as_array().size(), 1u);
  EXPECT_EQ(evs[1]["data"].as_object()["thread"].as_int64(), root);
  EXPECT_EQ(evs[2]["data"].as_object()["reply_to"].as_int64(), root);
  EXPECT_EQ(evs[3]["data"].as_object()["text"].as_string(), "quoting, edited");
  EXPECT_EQ(evs[4]["data"].as_object()["emoji"].as_string(), "🎉");
  // The deleted message's text is gone from the replayed log, created and edited alike.
  for (auto* e : {&evs[5], &evs[6]}) {
    auto s = json::serialize(*e);
    EXPECT_EQ(s.find("secret"), std::string::npos) << s;
    EXPECT_TRUE((*e)["data"].as_object()["deleted"].as_bool()) << s;
  }
  EXPECT_EQ(evs[7]["data"].as_object()["msg"].as_int64(), secret);

  // Live from here on: a reaction and an edit reach bob as they happen.
  a->call({{"op", "react"}, {"conv", conv}, {"msg", quoting}, {"emoji", "👍"}});
  auto live = b.events(1)[0];
  EXPECT_EQ(live["type"].as_string(), "reaction.added");

  // bob's view agrees with the replay.
  auto page = b.call({{"op", "messages"}, {"conv", conv}})["messages"].as_array();
  ASSERT_EQ(page.size(), 3u);  // root, the quoting message, the deleted one (thread reply not here)
  EXPECT_EQ(page[0].as_object()["replies"].as_object()["count"].as_int64(), 1);
  EXPECT_FALSE(page[0].as_object().contains("reactions"));
  EXPECT_EQ(page[1].as_object()["text"].as_string(), "quoting, edited");
  EXPECT_EQ(page[1].as_object()["reactions"].as_array().size(), 1u);
  EXPECT_TRUE(page[2].as_object()["deleted"].as_bool());
}

TEST(RichMessages, ReadPositionReachesTheUsersOtherDevices) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto m = send_text(*a, conv, "a1", "hello")["seq"].as_int64();
  auto phone = connect_live(srv.port(), bob.token);
  auto laptop = connect_live(srv.port(), login(srv.port(), "bob"));
  auto r = phone->call({{"op", "read"}, {"conv", conv}, {"seq", m}});
  EXPECT_EQ(r["unread"].as_int64(), 0);
  for (auto* dev : {phone.get(), laptop.get()}) {
    std::optional<json::object> notice;
    while (auto f = dev->next_push(5s)) {
      if (f->contains("notice")) {
        notice = *f;
        break;
      }
    }
    ASSERT_TRUE(notice.has_value());
    EXPECT_EQ((*notice)["notice"].as_string(), "read");
    EXPECT_EQ((*notice)["seq"].as_int64(), m);
  }
  // ann (another user) gets no notice.
  while (auto f = a->next_push(300ms)) EXPECT_FALSE(f->contains("notice")) << json::serialize(*f);
}
