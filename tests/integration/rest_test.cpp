// The REST API: the same operations as the WebSocket protocol, with HTTP statuses.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {
std::string j(const boost::json::object& o) {
  return boost::json::serialize(o);
}
}  // namespace

TEST(Rest, FullConversationFlow) {
  server_process srv;
  auto p = srv.port();
  EXPECT_EQ(http(p, "GET", "/healthz").body, "{\"status\":\"ok\"}");
  auto ann = register_and_login(p, "ann");
  auto bob = register_and_login(p, "bob");
  register_and_login(p, "cat");

  auto created = http(p, "POST", "/v1/conversations",
                      j({{"kind", "group"}, {"title", "team"}, {"members", {"bob"}}}), ann.token);
  ASSERT_EQ(created.status, 200) << created.body;
  auto conv = created.json().as_object()["conversation"].as_object()["id"].as_int64();
  auto base = "/v1/conversations/" + std::to_string(conv);

  EXPECT_EQ(http(p, "PATCH", base, j({{"title", "renamed"}}), ann.token).status, 200);
  EXPECT_EQ(http(p, "POST", base + "/members", j({{"user", "cat"}}), ann.token).status, 200);
  EXPECT_EQ(http(p, "PATCH", base + "/members/bob", j({{"role", "admin"}}), ann.token).status, 200);
  EXPECT_EQ(http(p, "DELETE", base + "/members/cat", "", bob.token).status, 200);

  for (int i = 0; i < 5; ++i) {
    auto r =
        http(p, "POST", base + "/messages",
             j({{"client_msg_id", "r" + std::to_string(i)}, {"text", "rest " + std::to_string(i)}}),
             bob.token);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto dup = http(p, "POST", base + "/messages", j({{"client_msg_id", "r0"}, {"text", "rest 0"}}),
                  bob.token);
  EXPECT_TRUE(dup.json().as_object()["duplicate"].as_bool());

  auto page = http(p, "GET", base + "/events?limit=3", "", ann.token).json().as_object();
  auto evs = page["events"].as_array();
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].as_object()["seq"].as_int64(), 8);
  EXPECT_EQ(evs[2].as_object()["seq"].as_int64(), 10);
  EXPECT_TRUE(page["has_more"].as_bool());
  auto older =
      http(p, "GET", base + "/events?before=8&limit=100", "", ann.token).json().as_object();
  EXPECT_EQ(older["events"].as_array().size(), 7u);
  EXPECT_FALSE(older["has_more"].as_bool());
  auto newer = http(p, "GET", base + "/events?after=9", "", ann.token).json().as_object();
  EXPECT_EQ(newer["events"].as_array().size(), 1u);

  auto list = http(p, "GET", "/v1/conversations", "", bob.token).json().as_object();
  ASSERT_EQ(list["conversations"].as_array().size(), 1u);
  EXPECT_EQ(list["conversations"].as_array()[0].as_object()["role"].as_string(), "admin");
  EXPECT_EQ(http(p, "GET", base, "", ann.token)
                .json()
                .as_object()["conversation"]
                .as_object()["members"]
                .as_array()
                .size(),
            2u);
}

TEST(Rest, StatusCodesForErrors) {
  server_process srv({"--set", "limits.max_http_body_bytes=1024"});
  auto p = srv.port();
  auto ann = register_and_login(p, "ann");
  EXPECT_EQ(http(p, "GET", "/v1/conversations").status, 401);
  EXPECT_EQ(http(p, "GET", "/v1/conversations", "", "pt_nope").status, 401);
  EXPECT_EQ(http(p, "GET", "/v1/nothing", "", ann.token).status, 404);
  EXPECT_EQ(http(p, "PUT", "/v1/conversations", "", ann.token).status, 405);
  EXPECT_EQ(http(p, "GET", "/v1/conversations/999", "", ann.token).status, 404);
  auto bad = http(p, "POST", "/v1/conversations", "{oops", ann.token);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json().as_object()["error"].as_object()["code"].as_string(), "invalid");
  EXPECT_EQ(
      http(p, "POST", "/v1/register", j({{"handle", "ann"}, {"password", "another password"}}))
          .status,
      409);
  EXPECT_EQ(http(p, "POST", "/v1/register", j({{"handle", "x"}, {"password", "another password"}}))
                .status,
            400);
  EXPECT_EQ(
      http(p, "POST", "/v1/login", j({{"handle", "ann"}, {"password", "wrong password"}})).status,
      401);
  EXPECT_EQ(http(p, "POST", "/v1/conversations",
                 j({{"kind", "group"}, {"title", std::string(2000, 'x')}}), ann.token)
                .status,
            413);
  EXPECT_EQ(http(p, "GET", "/healthz").status, 200);  // still healthy
}

TEST(Rest, MetricsAreExposed) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  ws_client c(srv.port(), ann.token);
  auto conv = create_group(c, "g", {});
  send_text(c, conv, "m1", "hello");
  c.request({{"op", "nope"}});
  auto m = http(srv.port(), "GET", "/metrics").body;
  for (auto name :
       {"parley_connections 1", "parley_sends_total 1", "parley_errors_total{code=\"invalid\"} 1",
        "parley_commit_seconds_bucket{le=\"+Inf\"}", "parley_deliveries_total",
        "parley_wal_checkpoints_total 0", "parley_wal_checkpoint_held_seconds_total 0"}) {
    EXPECT_NE(m.find(name), std::string::npos) << name << "\n" << m;
  }
  // The heap: which allocator (the normal build links jemalloc; the sanitizer builds run on
  // their runtime's malloc behind glibc's interface) and how much it holds.
#ifdef PARLEY_EXPECT_JEMALLOC
  EXPECT_NE(m.find("parley_heap_info{allocator=\"jemalloc 5."), std::string::npos) << m;
  EXPECT_GT(metric(srv.port(), "parley_heap_resident_bytes"), 1l << 20);
  EXPECT_GT(metric(srv.port(), "parley_heap_allocated_bytes"), 0);
#else
  // (Under ASan glibc's arenas hold next to nothing, so only the line is checked.)
  EXPECT_NE(m.find("parley_heap_info{allocator=\"glibc "), std::string::npos) << m;
  EXPECT_GE(metric(srv.port(), "parley_heap_allocated_bytes"), 0);
#endif
}

TEST(Rest, RichMessageRoutes) {
  server_process srv;
  auto p = srv.port();
  auto ann = register_and_login(p, "ann");
  auto bob = register_and_login(p, "bob");
  auto conv = http(p, "POST", "/v1/conversations",
                   j({{"kind", "group"}, {"title", "t"}, {"members", {"bob"}}}), ann.token)
                  .json()
                  .as_object()["conversation"]
                  .as_object()["id"]
                  .as_int64();
  auto base = "/v1/conversations/" + std::to_string(conv);
  auto root =
      http(p, "POST", base + "/messages", j({{"client_msg_id", "a"}, {"text", "root"}}), ann.token)
          .json()
          .as_object()["seq"]
          .as_int64();
  auto msg = base + "/messages/" + std::to_string(root);
  auto reply = http(p, "POST", base + "/messages",
                    j({{"client_msg_id", "b"}, {"text", "reply"}, {"thread", root}}), bob.token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(http(p, "PATCH", msg, j({{"text", "root, edited"}}), ann.token).status, 200);
  EXPECT_EQ(http(p, "PATCH", msg, j({{"text", "not mine"}}), bob.token).status, 403);
  // 👍 percent-encoded in the path.
  auto react = http(p, "PUT", msg + "/reactions/%F0%9F%91%8D", "", bob.token);
  ASSERT_EQ(react.status, 200) << react.body;
  EXPECT_TRUE(react.json().as_object()["changed"].as_bool());
  EXPECT_EQ(http(p, "PUT", msg + "/reactions/nope", "", bob.token).status, 400);
  auto page = http(p, "GET", base + "/messages?limit=10", "", bob.token).json().as_object();
  auto m0 = page["messages"].as_array().at(0).as_object();
  EXPECT_EQ(m0["text"].as_string(), "root, edited");
  EXPECT_EQ(m0["reactions"].as_array().at(0).as_object()["emoji"].as_string(), "👍");
  EXPECT_EQ(m0["replies"].as_object()["count"].as_int64(), 1);
  auto edits = http(p, "GET", msg + "/edits", "", bob.token).json().as_object();
  EXPECT_EQ(edits["versions"].as_array().at(0).as_object()["text"].as_string(), "root");
  auto th = http(p, "GET", base + "/threads/" + std::to_string(root), "", ann.token);
  ASSERT_EQ(th.status, 200) << th.body;
  EXPECT_EQ(th.json().as_object()["replies"].as_array().size(), 1u);
  EXPECT_EQ(http(p, "DELETE", base + "/threads/" + std::to_string(root) + "/follow", "", ann.token)
                .status,
            200);
  EXPECT_TRUE(http(p, "GET", "/v1/threads", "", ann.token)
                  .json()
                  .as_object()["threads"]
                  .as_array()
                  .empty());
  auto rd = http(p, "POST", base + "/read", j({{"seq", root + 1}}), ann.token);
  ASSERT_EQ(rd.status, 200) << rd.body;
  EXPECT_EQ(rd.json().as_object()["unread"].as_int64(), 0);
  EXPECT_EQ(http(p, "DELETE", msg + "/reactions/%F0%9F%91%8D", "", bob.token).status, 200);
  EXPECT_EQ(http(p, "DELETE", msg, "", bob.token).status, 403);
  EXPECT_EQ(http(p, "DELETE", msg, "", ann.token).status, 200);
}

TEST(Rest, ReceiptsTypingPresenceAndSettingsRoutes) {
  server_process srv;
  auto p = srv.port();
  auto ann = register_and_login(p, "ann");
  auto bob = register_and_login(p, "bob");
  auto conv = http(p, "POST", "/v1/conversations",
                   j({{"kind", "group"}, {"title", "t"}, {"members", {"bob"}}}), ann.token)
                  .json()
                  .as_object()["conversation"]
                  .as_object()["id"]
                  .as_int64();
  auto base = "/v1/conversations/" + std::to_string(conv);
  auto ack = http(p, "POST", "/v1/ack", j({{"positions", since(conv, 1)}}), bob.token);
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(ack.json().as_object()["positions"].as_object()[std::to_string(conv)].as_int64(), 1);
  EXPECT_EQ(http(p, "POST", "/v1/ack", j({{"positions", since(conv, 9)}}), bob.token).status, 400);
  auto rs = http(p, "GET", base + "/receipts", "", ann.token);
  ASSERT_EQ(rs.status, 200) << rs.body;
  EXPECT_EQ(rs.json().as_object()["receipts"].as_array().size(), 2u);
  EXPECT_EQ(http(p, "POST", base + "/typing", j({{"typing", true}}), bob.token).status, 200);
  auto eve = register_and_login(p, "eve");
  EXPECT_EQ(http(p, "POST", base + "/typing", j({}), eve.token).status, 404);
  auto pr = http(p, "GET", "/v1/presence", "", ann.token);
  ASSERT_EQ(pr.status, 200) << pr.body;
  auto list = pr.json().as_object()["presence"].as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].as_object()["user"].as_int64(), bob.id);
  EXPECT_EQ(list[0].as_object()["state"].as_string(), "offline");  // no connection, only REST
  auto st = http(p, "PATCH", "/v1/settings", j({{"invisible", true}}), bob.token);
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_TRUE(
      http(p, "GET", "/v1/settings", "", bob.token).json().as_object()["invisible"].as_bool());
  EXPECT_EQ(http(p, "PATCH", "/v1/settings", j({{"invisible", "yes"}}), bob.token).status, 400);
}
