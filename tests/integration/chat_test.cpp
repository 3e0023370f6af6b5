// Two users chat in a direct conversation; a group of five where one user has three
// devices; eight concurrent senders into one conversation see one gapless order.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

TEST(Chat, DirectConversationBothWays) {
  server_process srv;
  auto alice = register_and_login(srv.port(), "alice");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), alice.token);
  auto b = connect_live(srv.port(), bob.token);

  auto created = a->call({{"op", "conv.create"}, {"kind", "direct"}, {"peer", "bob"}});
  auto conv = created["conversation"].as_object()["id"].as_int64();
  // Creating it again (from either side) returns the same conversation.
  auto again = b->call({{"op", "conv.create"}, {"kind", "direct"}, {"peer", "alice"}});
  EXPECT_EQ(again["conversation"].as_object()["id"].as_int64(), conv);

  auto ev = b->events(1)[0];
  EXPECT_EQ(ev["type"].as_string(), "conversation.created");
  EXPECT_EQ(ev["seq"].as_int64(), 1);

  auto ack = send_text(*a, conv, "a-1", "hello bob");
  EXPECT_EQ(ack["seq"].as_int64(), 2);
  EXPECT_FALSE(ack["duplicate"].as_bool());
  auto got = b->events(1)[0];
  EXPECT_EQ(got["type"].as_string(), "message.created");
  EXPECT_EQ(got["seq"].as_int64(), 2);
  EXPECT_EQ(got["sender"].as_int64(), alice.id);
  EXPECT_EQ(got["data"].as_object()["text"].as_string(), "hello bob");
  EXPECT_EQ(got["id"].as_string(), ack["id"].as_string());

  send_text(*b, conv, "b-1", "hi alice\nsecond line");
  auto back = a->events(2);  // conversation.created, then bob's message (own ones included)
  EXPECT_EQ(back[0]["seq"].as_int64(), 1);
  EXPECT_EQ(back[1]["seq"].as_int64(), 2);
  auto last = a->events(1)[0];
  EXPECT_EQ(last["seq"].as_int64(), 3);
  EXPECT_EQ(last["data"].as_object()["text"].as_string(), "hi alice\nsecond line");
}

TEST(Chat, GroupOfFiveWithThreeDevices) {
  server_process srv;
  std::vector<account> users;
  for (auto h : {"ann", "ben", "cat", "dan", "eve"})
    users.push_back(register_and_login(srv.port(), h));
  std::vector<std::unique_ptr<ws_client>> clients;
  for (auto& u : users) clients.push_back(connect_live(srv.port(), u.token));
  // eve has two more devices.
  clients.push_back(connect_live(srv.port(), login(srv.port(), "eve")));
  clients.push_back(connect_live(srv.port(), login(srv.port(), "eve")));

  auto conv = create_group(*clients[0], "five", {"ben", "cat", "dan", "eve"});
  for (int i = 0; i < 10; ++i) {
    auto& sender = *clients[static_cast<std::size_t>(i % 5)];
    send_text(sender, conv, "m-" + std::to_string(i), "message " + std::to_string(i));
  }
  for (auto& c : clients) {
    auto evs = c->events(11);
    for (std::size_t i = 0; i < evs.size(); ++i) {
      EXPECT_EQ(evs[i]["seq"].as_int64(), static_cast<std::int64_t>(i + 1));
      EXPECT_EQ(evs[i]["conv"].as_int64(), conv);
    }
    EXPECT_EQ(evs[10]["data"].as_object()["text"].as_string(), "message 9");
    EXPECT_FALSE(c->next_push(200ms).has_value()) << "no duplicates or extra events";
  }
}

TEST(Chat, EightConcurrentSendersOneGaplessOrder) {
  server_process srv;
  std::vector<account> users;
  std::vector<std::string> handles;
  for (int i = 0; i < 8; ++i) {
    users.push_back(register_and_login(srv.port(), "sender" + std::to_string(i)));
    if (i) handles.push_back(users.back().handle);
  }
  // Watchers sync before the group exists: a conversation new to a live session is
  // caught up from the member's join (seq 1).
  std::vector<std::unique_ptr<ws_client>> watchers;
  for (auto& u : users) watchers.push_back(connect_live(srv.port(), u.token));
  auto conv = create_group(*watchers[0], "busy", handles);

  constexpr int kPerSender = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int s = 0; s < 8; ++s) {
    threads.emplace_back([&, s] {
      try {
        ws_client c(srv.port(), users[static_cast<std::size_t>(s)].token);
        // Pipeline all sends, then collect the replies.
        std::vector<std::int64_t> ids;
        for (int i = 0; i < kPerSender; ++i)
          ids.push_back(
              c.send_request({{"op", "send"},
                              {"conv", conv},
                              {"client_msg_id", "s" + std::to_string(s) + "-" + std::to_string(i)},
                              {"text", std::to_string(s) + ":" + std::to_string(i)}}));
        int got = 0;
        while (got < kPerSender) {
          auto f = c.next_frame(10s);
          if (!f) throw std::runtime_error("timeout");
          if (f->contains("result")) ++got;
          if (f->contains("error")) throw std::runtime_error(boost::json::serialize(*f));
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  std::vector<std::string> reference;
  for (auto& w : watchers) {
    auto evs = w->events(8 * kPerSender + 1);
    std::vector<std::string> order;
    std::vector<int> last_of_sender(8, -1);
    for (std::size_t i = 0; i < evs.size(); ++i) {
      ASSERT_EQ(evs[i]["seq"].as_int64(), static_cast<std::int64_t>(i + 1));
      if (i == 0) continue;
      std::string text(evs[i]["data"].as_object()["text"].as_string());
      order.push_back(text);
      int s = std::stoi(text.substr(0, text.find(':')));
      int n = std::stoi(text.substr(text.find(':') + 1));
      EXPECT_EQ(n, last_of_sender[static_cast<std::size_t>(s)] + 1)
          << "each sender's messages in order";
      last_of_sender[static_cast<std::size_t>(s)] = n;
    }
    if (reference.empty()) reference = order;
    EXPECT_EQ(order, reference) << "every member sees the same order";
    EXPECT_FALSE(w->next_push(100ms).has_value());
  }
}
