// The authorization matrix: every conversation operation run as a stranger, a removed
// member, a member, an admin and the owner of a group, each against a fresh group, with
// the result docs/protocol.md gives ("Operations", "Who sees what"). A stranger's answer
// is exactly that of a conversation that does not exist, so nothing about a private
// conversation leaks.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <functional>
#include <map>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

enum role { stranger, former, member, admin, owner, kRoles };
const char* kRoleNames[] = {"stranger", "former member", "member", "admin", "owner"};

// One group per row: the owner, an admin, a member (who sent m1, the thread root), a
// second member (target of removals and role changes), a removed member, and a stranger.
struct group {
  std::int64_t conv = 0, m1 = 0;
};

struct row {
  const char* op;
  std::function<json::object(const group&, const std::string& extra_user)> args;
  const char* expect[kRoles];  // "" = success, else the error code
};

std::string outcome(const json::object& reply) {
  if (reply.contains("result")) return "";
  return std::string(reply.at("error").as_object().at("code").as_string());
}

TEST(Authorization, EveryOperationForEveryRoleAsDocumented) {
  server_process srv({"--set", "rate.enabled=off"});
  const char* handles[] = {"stranger", "former", "member", "admin", "owner", "member2"};
  std::map<std::string, account> u;
  std::map<std::string, std::unique_ptr<ws_client>> c;
  for (auto h : handles) {
    u[h] = register_and_login(srv.port(), h);
    c[h] = connect_live(srv.port(), u[h].token);
  }
  int extra_n = 0;
  auto make_group = [&]() {
    group g;
    g.conv = create_group(*c["owner"], "g", {"admin", "member", "member2", "former"});
    c["owner"]->call(
        {{"op", "members.set_role"}, {"conv", g.conv}, {"user", "admin"}, {"role", "admin"}});
    g.m1 =
        send_text(*c["member"], g.conv, "m1-" + std::to_string(g.conv), "root")["seq"].as_int64();
    c["owner"]->call({{"op", "members.remove"}, {"conv", g.conv}, {"user", "former"}});
    send_text(*c["member"], g.conv, "m2-" + std::to_string(g.conv), "after the removal");
    return g;
  };
  auto conv_only = [](const group& g, const std::string&) {
    return json::object{{"conv", g.conv}};
  };
  auto on_m1 = [](json::object extra) {
    return [extra](const group& g, const std::string&) {
      json::object a = extra;
      a["conv"] = g.conv;
      a["msg"] = g.m1;
      return a;
    };
  };
  const char* ok = "";
  const char* nf = "not_found";
  const char* no = "forbidden";
  std::vector<row> rows = {
      {"conv.get", conv_only, {nf, ok, ok, ok, ok}},
      {"conv.update",
       [](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"title", "t"}};
       },
       {nf, no, no, ok, ok}},
      {"members.add",
       [](const group& g, const std::string& x) {
         return json::object{{"conv", g.conv}, {"user", x}};
       },
       {nf, no, no, ok, ok}},
      {"members.add",
       [](const group& g, const std::string& x) {
         return json::object{{"conv", g.conv}, {"user", x}, {"role", "admin"}};
       },
       {nf, no, no, no, ok}},
      {"members.remove",
       [&](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"user", "member2"}};
       },
       {nf, no, no, ok, ok}},
      {"members.set_role",
       [&](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"user", "member2"}, {"role", "admin"}};
       },
       {nf, no, no, no, ok}},
      {"send",
       [](const group& g, const std::string& x) {
         return json::object{{"conv", g.conv}, {"client_msg_id", "x" + x}, {"text", "hi"}};
       },
       {nf, no, ok, ok, ok}},
      {"history", conv_only, {nf, ok, ok, ok, ok}},
      {"messages", conv_only, {nf, ok, ok, ok, ok}},
      {"thread",
       [](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"thread", g.m1}};
       },
       {nf, ok, ok, ok, ok}},
      {"edit", on_m1({{"text", "changed"}}), {nf, no, ok, no, no}},
      {"delete", on_m1({}), {nf, no, ok, ok, ok}},
      {"react", on_m1({{"emoji", "👍"}}), {nf, no, ok, ok, ok}},
      {"unreact", on_m1({{"emoji", "👍"}}), {nf, no, ok, ok, ok}},
      {"edits", on_m1({}), {nf, ok, ok, ok, ok}},
      {"follow",
       [](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"thread", g.m1}};
       },
       {nf, no, ok, ok, ok}},
      {"read",
       [](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"seq", g.m1}};
       },
       {nf, ok, ok, ok, ok}},
      {"receipts", conv_only, {nf, ok, ok, ok, ok}},
      {"typing", conv_only, {nf, no, ok, ok, ok}},
      {"ack",
       [](const group& g, const std::string&) {
         return json::object{{"positions", json::object{{std::to_string(g.conv), g.m1}}}};
       },
       {nf, ok, ok, ok, ok}},
      {"search",
       [](const group& g, const std::string&) {
         return json::object{{"conv", g.conv}, {"query", "root"}};
       },
       {nf, ok, ok, ok, ok}},
  };
  // The answer for a conversation id that was never used: strangers must get exactly it.
  const std::int64_t never = 999999;
  int mismatches = 0;
  for (const auto& r : rows) {
    for (int who = 0; who < kRoles; ++who) {
      auto g = make_group();
      auto extra = register_and_login(srv.port(), "extra" + std::to_string(extra_n++));
      auto args = r.args(g, extra.handle);
      args["op"] = r.op;
      auto reply = c[handles[who]]->request(args);
      auto got = outcome(reply);
      EXPECT_EQ(got, r.expect[who])
          << r.op << " as " << kRoleNames[who] << ": " << json::serialize(reply);
      mismatches += got != r.expect[who];
      if (who == stranger) {
        group none = g;
        none.conv = never;
        auto a2 = r.args(none, extra.handle);
        if (a2.contains("positions")) a2["positions"] = json::object{{std::to_string(never), g.m1}};
        a2["op"] = r.op;
        auto r2 = c["stranger"]->request(a2);
        auto e1 = reply.at("error").as_object();
        auto e2 = r2.at("error").as_object();
        EXPECT_EQ(json::serialize(e1["code"]) + json::serialize(e1["field"]),
                  json::serialize(e2["code"]) + json::serialize(e2["field"]))
            << r.op << ": a stranger can tell the conversation exists";
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
