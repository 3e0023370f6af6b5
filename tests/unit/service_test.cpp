// parley::service over a real SQLite store (temp file) and the in-process bus: the
// operations, authorization and event publication described in docs/protocol.md.
#include "service_fixture.hpp"

namespace parley {
namespace {

using namespace svc_test;
namespace json = boost::json;

// ---------------------------------------------------------------------------------------
// Accounts and tokens

TEST_F(ServiceTest, RegisterLoginAuthenticateRoundTrip) {
  caller anon;
  auto reg = ok(anon, "register", {{"handle", "Ann"}, {"password", kPassword}});
  const auto& u = reg["user"].as_object();
  EXPECT_EQ(u.at("handle").as_string(), "ann");  // handles are lowercased
  auto id = u.at("id").as_int64();
  EXPECT_GT(id, 0);

  auto before = now_ms();
  auto login = ok(anon, "login", {{"handle", "ANN"}, {"password", kPassword}});
  auto after = now_ms();
  std::string token(login["token"].as_string());
  EXPECT_EQ(token.size(), 46u);
  EXPECT_EQ(token.rfind("pt_", 0), 0u);
  EXPECT_EQ(login["user"].as_object().at("id").as_int64(), id);
  EXPECT_EQ(login["user"].as_object().at("handle").as_string(), "ann");
  auto ttl = base_options().token_ttl_ms;
  EXPECT_GE(login["expires_ms"].as_int64(), before + ttl);
  EXPECT_LE(login["expires_ms"].as_int64(), after + ttl);

  auto s = authenticate(token);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->u.id, id);
  EXPECT_EQ(s->u.handle, "ann");
  EXPECT_EQ(s->device, login["device"].as_int64());

  // Each login is a new device with its own token.
  auto login2 = ok(anon, "login", {{"handle", "ann"}, {"password", kPassword}});
  EXPECT_NE(login2["token"].as_string(), login["token"].as_string());
  EXPECT_NE(login2["device"].as_int64(), login["device"].as_int64());
  EXPECT_TRUE(authenticate(std::string(login2["token"].as_string())));
  EXPECT_TRUE(authenticate(token));
}

TEST_F(ServiceTest, WrongPasswordOrHandleIsUnauthenticated) {
  signup("ann");
  caller anon;
  expect_error(fail(anon, "login", {{"handle", "ann"}, {"password", "wrong password"}}),
               errc::unauthenticated, "");
  expect_error(fail(anon, "login", {{"handle", "nobody"}, {"password", kPassword}}),
               errc::unauthenticated, "");
  // A handle that could never exist is answered the same way, not as invalid.
  expect_error(fail(anon, "login", {{"handle", "!"}, {"password", kPassword}}),
               errc::unauthenticated, "");
  EXPECT_FALSE(authenticate("pt_not-a-real-token"));
  EXPECT_EQ(authenticate("").err().code, errc::unauthenticated);
}

TEST_F(ServiceTest, TakenHandleIsAConflict) {
  signup("ann");
  caller anon;
  expect_error(fail(anon, "register", {{"handle", "ann"}, {"password", kPassword}}), errc::conflict,
               "handle");
  expect_error(fail(anon, "register", {{"handle", "ANN"}, {"password", "another password"}}),
               errc::conflict, "handle");
  // The original password still works.
  EXPECT_TRUE(call(anon, "login", {{"handle", "ann"}, {"password", kPassword}}));
}

TEST_F(ServiceTest, ExpiredTokenIsUnauthenticated) {
  make_service([](service_options& o) { o.token_ttl_ms = -1; });
  caller anon;
  ok(anon, "register", {{"handle", "ann"}, {"password", kPassword}});
  auto login = ok(anon, "login", {{"handle", "ann"}, {"password", kPassword}});
  EXPECT_LT(login["expires_ms"].as_int64(), now_ms() + 1);
  auto r = authenticate(std::string(login["token"].as_string()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unauthenticated);

  make_service([](service_options& o) { o.token_ttl_ms = 0; });  // expires at issue
  login = ok(anon, "login", {{"handle", "ann"}, {"password", kPassword}});
  EXPECT_FALSE(authenticate(std::string(login["token"].as_string())));

  make_service({});
  login = ok(anon, "login", {{"handle", "ann"}, {"password", kPassword}});
  EXPECT_TRUE(authenticate(std::string(login["token"].as_string())));
}

TEST_F(ServiceTest, LogoutRevokesOnlyThatDevice) {
  auto ann = signup("ann");
  auto other = ok(caller{}, "login", {{"handle", "ann"}, {"password", kPassword}});
  EXPECT_EQ(ok(ann.who, "logout").size(), 0u);
  EXPECT_FALSE(authenticate(ann.token));
  EXPECT_TRUE(authenticate(std::string(other["token"].as_string())));
  // on_logout runs after the reply, so the server can close the device's sockets.
  std::unique_lock lk(mu_);
  logout_cv_.wait_for(lk, test::kWaitLimit, [&] { return !logged_out_.empty(); });
  EXPECT_EQ(logged_out_, std::vector<device_id>{ann.who.auth->device});
}

TEST_F(ServiceTest, OperationsNeedAuthentication) {
  caller anon;
  for (const char* op : {"logout", "conv.create", "conv.list", "conv.get", "conv.update",
                         "members.add", "members.remove", "members.set_role", "send", "history"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(fail(anon, op, {{"conv", 1}}).code, errc::unauthenticated);
  }
  EXPECT_TRUE(ok(anon, "ping").at("ts").is_int64());
  expect_error(fail(anon, "no.such.op"), errc::invalid, "op");
  auto ann = signup("ann");
  expect_error(fail(ann.who, "no.such.op"), errc::invalid, "op");
}

// ---------------------------------------------------------------------------------------
// Validation

TEST_F(ServiceTest, InvalidInputsNameTheField) {
  auto ann = signup("ann");
  signup("bob");
  conv_id c = group(ann, {"bob"});
  caller anon;
  struct bad {
    const caller* who;
    const char* op;
    json::object args;
    errc code;
    const char* field;
  };
  const std::string long_text(16385, 'x');
  const std::string long_title(201, 't');
  const std::string long_cmid(65, 'k');
  const std::string long_pw(1025, 'p');
  // clang-format off
  const caller* me = &ann.who;
  std::vector<bad> cases = {
      {&anon, "register", {{"password", kPassword}}, errc::invalid, "handle"},
      {&anon, "register", {{"handle", "zed"}}, errc::invalid, "password"},
      {&anon, "register", {{"handle", 5}, {"password", kPassword}}, errc::invalid, "handle"},
      {&anon, "register", {{"handle", "zz"}, {"password", kPassword}}, errc::invalid, "handle"},
      {&anon, "register", {{"handle", "_zed"}, {"password", kPassword}}, errc::invalid, "handle"},
      {&anon, "register", {{"handle", "zed"}, {"password", "short"}}, errc::invalid, "password"},
      {&anon, "register", {{"handle", "zed"}, {"password", long_pw}}, errc::too_large, "password"},
      {&anon, "login", {{"password", kPassword}}, errc::invalid, "handle"},
      {&anon, "login", {{"handle", "ann"}}, errc::invalid, "password"},
      {me, "conv.create", {}, errc::invalid, "kind"},
      {me, "conv.create", {{"kind", "channel"}}, errc::invalid, "kind"},
      {me, "conv.create", {{"kind", "direct"}}, errc::invalid, "peer"},
      {me, "conv.create", {{"kind", "direct"}, {"peer", "b"}}, errc::invalid, "peer"},
      {me, "conv.create", {{"kind", "group"}, {"members", "bob"}}, errc::invalid, "members"},
      {me, "conv.create", {{"kind", "group"}, {"members", {1}}}, errc::invalid, "members"},
      {me, "conv.create", {{"kind", "group"}, {"members", {"!!"}}}, errc::invalid, "members"},
      {me, "conv.create", {{"kind", "group"}, {"title", long_title}}, errc::too_large, "title"},
      {me, "conv.create", {{"kind", "group"}, {"title", "a\nb"}}, errc::invalid, "title"},
      {me, "conv.create", {{"kind", "group"}, {"title", 7}}, errc::invalid, "title"},
      {me, "conv.get", {}, errc::invalid, "conv"},
      {me, "conv.get", {{"conv", "abc"}}, errc::invalid, "conv"},
      {me, "conv.get", {{"conv", 1.5}}, errc::invalid, "conv"},
      {me, "conv.get", {{"conv", true}}, errc::invalid, "conv"},
      {me, "conv.update", {{"conv", c}}, errc::invalid, "title"},
      {me, "conv.update", {{"conv", c}, {"title", long_title}}, errc::too_large, "title"},
      {me, "members.add", {{"conv", c}}, errc::invalid, "user"},
      {me, "members.add", {{"conv", c}, {"user", "!"}}, errc::invalid, "user"},
      {me, "members.add", {{"conv", c}, {"user", "bob"}, {"role", "owner"}}, errc::invalid, "role"},
      {me, "members.add", {{"conv", c}, {"user", "bob"}, {"role", "boss"}}, errc::invalid, "role"},
      {me, "members.add", {{"user", "bob"}}, errc::invalid, "conv"},
      {me, "members.remove", {{"conv", c}}, errc::invalid, "user"},
      {me, "members.set_role", {{"conv", c}, {"user", "bob"}}, errc::invalid, "role"},
      {me, "members.set_role", {{"conv", c}, {"user", "bob"}, {"role", "owner"}}, errc::invalid, "role"},
      {me, "send", {{"client_msg_id", "k"}, {"text", "hi"}}, errc::invalid, "conv"},
      {me, "send", {{"conv", c}, {"text", "hi"}}, errc::invalid, "client_msg_id"},
      {me, "send", {{"conv", c}, {"client_msg_id", "a b"}, {"text", "hi"}}, errc::invalid, "client_msg_id"},
      {me, "send", {{"conv", c}, {"client_msg_id", ""}, {"text", "hi"}}, errc::invalid, "client_msg_id"},
      {me, "send", {{"conv", c}, {"client_msg_id", long_cmid}, {"text", "hi"}}, errc::invalid, "client_msg_id"},
      {me, "send", {{"conv", c}, {"client_msg_id", "k"}}, errc::invalid, "text"},
      {me, "send", {{"conv", c}, {"client_msg_id", "k"}, {"text", ""}}, errc::invalid, "text"},
      {me, "send", {{"conv", c}, {"client_msg_id", "k"}, {"text", "bell\x07"}}, errc::invalid, "text"},
      {me, "send", {{"conv", c}, {"client_msg_id", "k"}, {"text", "bad \xC3"}}, errc::invalid, "text"},
      {me, "send", {{"conv", c}, {"client_msg_id", "k"}, {"text", long_text}}, errc::too_large, "text"},
      {me, "history", {{"conv", c}, {"limit", 0}}, errc::invalid, "limit"},
      {me, "history", {{"conv", c}, {"limit", 201}}, errc::invalid, "limit"},
      {me, "history", {{"conv", c}, {"limit", -5}}, errc::invalid, "limit"},
      {me, "history", {{"conv", c}, {"limit", "ten"}}, errc::invalid, "limit"},
      {me, "history", {{"conv", c}, {"before", 5}, {"after", 1}}, errc::invalid, "before"},
      {me, "history", {{"conv", c}, {"before", "x"}}, errc::invalid, "before"},
      {me, "history", {{"conv", c}, {"after", false}}, errc::invalid, "after"},
  };
  // clang-format on
  for (const auto& b : cases) {
    SCOPED_TRACE(std::string(b.op) + " " + json::serialize(b.args).substr(0, 120));
    auto e = fail(*b.who, b.op, b.args);
    expect_error(e, b.code, b.field);
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_EQ(take_published().size(), 1u);  // only the group's creation
  // Nothing was written by the failed sends.
  EXPECT_EQ(seqs(history(ann, {{"conv", c}})), range(1, 1));
}

TEST_F(ServiceTest, IntegersInStringsAreAccepted) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  send(ann, c, "m1");
  send(ann, c, "m2");
  auto page = history(ann, {{"conv", std::to_string(c)}, {"limit", "1"}, {"before", "3"}});
  EXPECT_EQ(seqs(page), range(2, 2));
  auto got = ok(ann.who, "conv.get", {{"conv", std::to_string(c)}});
  EXPECT_EQ(got["conversation"].as_object().at("id").as_int64(), c);
}

// ---------------------------------------------------------------------------------------
// Sending

TEST_F(ServiceTest, SendAcknowledgesWithTheStoredEvent) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  auto before = now_ms();
  auto ack = send(ann, c, "c-1", "hello");
  EXPECT_EQ(ack["conv"].as_int64(), c);
  EXPECT_EQ(ack["seq"].as_int64(), 2);
  EXPECT_EQ(ack["client_msg_id"].as_string(), "c-1");
  EXPECT_EQ(ack["duplicate"].as_bool(), false);
  EXPECT_EQ(ack["id"].as_string().size(), 32u);
  EXPECT_GE(ack["ts"].as_int64(), before);
  EXPECT_LE(ack["ts"].as_int64(), now_ms());

  auto page = history(ann, {{"conv", c}});
  const auto& ev = page["events"].as_array().back().as_object();
  EXPECT_EQ(ev.at("seq"), ack["seq"]);
  EXPECT_EQ(ev.at("id"), ack["id"]);
  EXPECT_EQ(ev.at("ts"), ack["ts"]);
  EXPECT_EQ(ev.at("type").as_string(), "message.created");
  EXPECT_EQ(ev.at("sender").as_int64(), ann.u.id);
  EXPECT_EQ(ev.at("client_msg_id").as_string(), "c-1");
  EXPECT_EQ(ev.at("data"), json::parse(R"({"text":"hello"})"));

  EXPECT_EQ(send(ann, c, "c-2")["seq"].as_int64(), 3);
}

TEST_F(ServiceTest, TextIsStoredExactlyAsGiven) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  take_published();
  const std::string text =
      "quote \" backslash \\ slash / <script>alert(1)</script>\nline\ttab h\xC3\xA9 "
      "\xF0\x9F\x98\x80 "
      "\xE2\x80\xA8";
  send(ann, c, "esc", text);
  auto page = history(ann, {{"conv", c}, {"after", 1}});
  ASSERT_EQ(page["events"].as_array().size(), 1u);
  EXPECT_EQ(page["events"].as_array()[0].as_object().at("data").as_object().at("text").as_string(),
            text);
  auto pub = take_published();
  ASSERT_EQ(pub.size(), 1u);
  // The frame is a single line (frames are separated by line feeds).
  EXPECT_EQ(pub[0]->frame->find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(*pub[0]->frame).at("ev").at("data").at("text").as_string(), text);
}

TEST_F(ServiceTest, IdempotentSendReturnsTheOriginalAck) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  take_published();
  auto first = send(ann, c, "dup-1", "hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(3));  // a new ts would differ
  auto again = send(ann, c, "dup-1", "different text, same key");
  EXPECT_EQ(again["duplicate"].as_bool(), true);
  EXPECT_EQ(again["conv"], first["conv"]);
  EXPECT_EQ(again["seq"], first["seq"]);
  EXPECT_EQ(again["id"], first["id"]);
  EXPECT_EQ(again["ts"], first["ts"]);
  EXPECT_EQ(again["client_msg_id"], first["client_msg_id"]);
  EXPECT_EQ(first["duplicate"].as_bool(), false);

  // One event stored, one published.
  auto page = history(ann, {{"conv", c}});
  EXPECT_EQ(seqs(page), range(1, 2));
  EXPECT_EQ(page["events"].as_array()[1].at("data").at("text").as_string(), "hello");
  EXPECT_EQ(take_published().size(), 1u);
  EXPECT_EQ(send(ann, c, "dup-2")["seq"].as_int64(), 3);
  {
    std::lock_guard lk(mu_);  // the hook saw: new, duplicate, new
    EXPECT_EQ(acks_, (std::vector<bool>{false, true, false}));
  }

  // The key belongs to the sender: another user may use the same one.
  auto bob = signup("bob");
  ok(ann.who, "members.add", {{"conv", c}, {"user", "bob"}});
  auto bobs = send(bob, c, "dup-1");
  EXPECT_EQ(bobs["duplicate"].as_bool(), false);
  EXPECT_EQ(bobs["seq"].as_int64(), 5);
}

TEST_F(ServiceTest, ClientMsgIdReusedInAnotherConversationIsAConflict) {
  auto ann = signup("ann");
  conv_id c1 = group(ann, {}, "one");
  conv_id c2 = group(ann, {}, "two");
  send(ann, c1, "shared-key");
  take_published();
  expect_error(
      fail(ann.who, "send", {{"conv", c2}, {"client_msg_id", "shared-key"}, {"text", "x"}}),
      errc::conflict, "client_msg_id");
  EXPECT_EQ(seqs(history(ann, {{"conv", c2}})), range(1, 1));
  EXPECT_TRUE(take_published().empty());
  std::lock_guard lk(mu_);
  EXPECT_EQ(acks_, std::vector<bool>{false});  // failed sends are not acknowledged
}

// ---------------------------------------------------------------------------------------
// Authorization

TEST_F(ServiceTest, NonMemberSeesNotFoundExactlyLikeAMissingConversation) {
  auto ann = signup("ann");
  auto dan = signup("dan");
  signup("bob");
  conv_id c = group(ann, {"bob"});
  conv_id missing = c + 1000;
  take_published();
  auto attempt = [&](conv_id conv, std::string_view op) {
    json::object a{{"conv", conv}};
    if (op == "send") a = {{"conv", conv}, {"client_msg_id", "probe"}, {"text", "x"}};
    if (op == "conv.update") a = {{"conv", conv}, {"title", "x"}};
    if (op == "members.add" || op == "members.remove") a = {{"conv", conv}, {"user", "bob"}};
    if (op == "members.set_role") a = {{"conv", conv}, {"user", "bob"}, {"role", "admin"}};
    return fail(dan.who, op, a);
  };
  for (const char* op : {"send", "history", "conv.get", "conv.update", "members.add",
                         "members.remove", "members.set_role"}) {
    SCOPED_TRACE(op);
    auto hidden = attempt(c, op);
    auto absent = attempt(missing, op);
    EXPECT_EQ(hidden.code, errc::not_found);
    EXPECT_EQ(hidden.code, absent.code);
    EXPECT_EQ(hidden.message, absent.message);
    EXPECT_EQ(hidden.field, absent.field);
  }
  EXPECT_TRUE(ok(dan.who, "conv.list")["conversations"].as_array().empty());
  EXPECT_TRUE(take_published().empty());
}

TEST_F(ServiceTest, RemovedMemberCannotSendButReadsHistoryUpToLeaving) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  conv_id c = group(ann, {"bob"});                                // seq 1
  send(ann, c, "a1");                                             // seq 2
  auto bob_ack = send(bob, c, "b1");                              // seq 3
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "bob"}});  // seq 4: member.left
  send(ann, c, "a2");                                             // seq 5
  send(ann, c, "a3");                                             // seq 6

  expect_error(fail(bob.who, "send", {{"conv", c}, {"client_msg_id", "b2"}, {"text", "x"}}),
               errc::forbidden, "conv");
  EXPECT_EQ(fail(bob.who, "conv.update", {{"conv", c}, {"title", "x"}}).code, errc::forbidden);
  EXPECT_EQ(fail(bob.who, "members.add", {{"conv", c}, {"user", "ann"}}).code, errc::forbidden);
  EXPECT_EQ(fail(bob.who, "members.remove", {{"conv", c}, {"user", "bob"}}).code, errc::forbidden);

  // A retry of a message sent before leaving still gets its original acknowledgement.
  auto retry = send(bob, c, "b1");
  EXPECT_TRUE(retry["duplicate"].as_bool());
  EXPECT_EQ(retry["seq"], bob_ack["seq"]);
  EXPECT_EQ(retry["id"], bob_ack["id"]);

  auto page = history(bob, {{"conv", c}});
  EXPECT_EQ(seqs(page), range(1, 4));
  EXPECT_EQ(page["last_seq"].as_int64(), 4);
  EXPECT_FALSE(page["has_more"].as_bool());
  EXPECT_EQ(page["events"].as_array().back().at("type").as_string(), "member.left");
  EXPECT_TRUE(seqs(history(bob, {{"conv", c}, {"after", 4}})).empty());
  EXPECT_EQ(seqs(history(bob, {{"conv", c}, {"after", 2}})), range(3, 4));
  EXPECT_EQ(seqs(history(bob, {{"conv", c}, {"before", 100}})), range(1, 4));
  EXPECT_EQ(seqs(history(ann, {{"conv", c}})), range(1, 6));

  auto conv = ok(bob.who, "conv.get", {{"conv", c}})["conversation"].as_object();
  EXPECT_EQ(conv.at("left_seq").as_int64(), 4);
  EXPECT_EQ(conv.at("last_seq").as_int64(), 4);
  auto list = ok(bob.who, "conv.list")["conversations"].as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("id").as_int64(), c);
  EXPECT_EQ(list[0].at("left_seq").as_int64(), 4);
  EXPECT_EQ(list[0].at("last_seq").as_int64(), 4);
  auto ann_view = ok(ann.who, "conv.get", {{"conv", c}})["conversation"].as_object();
  EXPECT_EQ(ann_view.at("last_seq").as_int64(), 6);
  EXPECT_FALSE(ann_view.contains("left_seq"));
}

// Group used by the role tests: ann owner, bob admin, cat and dan members.
class RolesTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    ann = signup("ann");
    bob = signup("bob");
    cat = signup("cat");
    dan = signup("dan");
    eve = signup("eve");
    fay = signup("fay");
    c = group(ann, {"bob", "cat", "dan"});
    ok(ann.who, "members.set_role", {{"conv", c}, {"user", "bob"}, {"role", "admin"}});
    take_published();
  }
  std::string role_of(const std::string& handle) {
    auto r = ok(ann.who, "conv.get", {{"conv", c}});
    auto* m = member_of(r, handle);
    return m ? std::string(m->at("role").as_string()) : std::string("(none)");
  }
  account ann, bob, cat, dan, eve, fay;
  conv_id c = 0;
};

TEST_F(RolesTest, MembersAdd) {
  EXPECT_EQ(fail(cat.who, "members.add", {{"conv", c}, {"user", "eve"}}).code, errc::forbidden);
  EXPECT_EQ(fail(bob.who, "members.add", {{"conv", c}, {"user", "eve"}, {"role", "admin"}}).code,
            errc::forbidden);
  EXPECT_TRUE(take_published().empty());

  auto r = ok(bob.who, "members.add", {{"conv", c}, {"user", "EVE"}});
  auto* m = member_of(r, "eve");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("role").as_string(), "member");
  auto pub = take_published();
  ASSERT_EQ(pub.size(), 1u);
  EXPECT_EQ(pub[0]->ev.type, "member.joined");
  EXPECT_EQ(m->at("joined_seq").as_int64(), pub[0]->ev.seq);
  EXPECT_EQ(
      json::parse(pub[0]->ev.data),
      json::parse(R"({"user":{"id":)" + std::to_string(eve.u.id) +
                  R"(,"handle":"eve"},"role":"member","by":)" + std::to_string(bob.u.id) + "}"));

  expect_error(fail(bob.who, "members.add", {{"conv", c}, {"user", "eve"}}), errc::conflict,
               "user");
  expect_error(fail(bob.who, "members.add", {{"conv", c}, {"user", "ghost"}}), errc::not_found,
               "user");

  r = ok(ann.who, "members.add", {{"conv", c}, {"user", "fay"}, {"role", "admin"}});
  ASSERT_TRUE(member_of(r, "fay"));
  EXPECT_EQ(member_of(r, "fay")->at("role").as_string(), "admin");

  // The new member can act at once.
  EXPECT_EQ(send(eve, c, "hi-from-eve")["duplicate"].as_bool(), false);

  // A direct conversation has fixed members.
  auto d =
      ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "bob"}})["conversation"].as_object();
  expect_error(fail(ann.who, "members.add", {{"conv", d.at("id").as_int64()}, {"user", "cat"}}),
               errc::invalid, "conv");
}

TEST_F(RolesTest, MembersRemove) {
  ok(ann.who, "members.add", {{"conv", c}, {"user", "fay"}, {"role", "admin"}});
  take_published();
  EXPECT_EQ(fail(cat.who, "members.remove", {{"conv", c}, {"user", "dan"}}).code, errc::forbidden);
  EXPECT_EQ(fail(bob.who, "members.remove", {{"conv", c}, {"user", "fay"}}).code, errc::forbidden);
  EXPECT_EQ(fail(bob.who, "members.remove", {{"conv", c}, {"user", "ann"}}).code, errc::forbidden);
  EXPECT_EQ(fail(fay.who, "members.remove", {{"conv", c}, {"user", "ann"}}).code, errc::forbidden);
  expect_error(fail(bob.who, "members.remove", {{"conv", c}, {"user", "eve"}}), errc::not_found,
               "user");
  expect_error(fail(bob.who, "members.remove", {{"conv", c}, {"user", "ghost"}}), errc::not_found,
               "user");
  EXPECT_TRUE(take_published().empty());

  EXPECT_EQ(ok(bob.who, "members.remove", {{"conv", c}, {"user", "dan"}}).size(), 0u);
  expect_error(fail(bob.who, "members.remove", {{"conv", c}, {"user", "dan"}}), errc::not_found,
               "user");
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "fay"}});
  ok(cat.who, "members.remove", {{"conv", c}, {"user", "cat"}});  // leaving
  EXPECT_EQ(role_of("dan"), "(none)");
  EXPECT_EQ(role_of("fay"), "(none)");
  EXPECT_EQ(role_of("cat"), "(none)");
  EXPECT_EQ(role_of("bob"), "admin");

  auto pub = take_published();
  ASSERT_EQ(pub.size(), 3u);
  for (const auto& e : pub) EXPECT_EQ(e->ev.type, "member.left");
  EXPECT_EQ(json::parse(pub[0]->ev.data).at("by").as_int64(), bob.u.id);
  EXPECT_EQ(json::parse(pub[1]->ev.data).at("role").as_string(), "admin");
  EXPECT_EQ(json::parse(pub[2]->ev.data).at("by").as_int64(), cat.u.id);  // left by themselves

  // A former member can be added again and is a member from the new member.joined on.
  auto r = ok(bob.who, "members.add", {{"conv", c}, {"user", "dan"}});
  auto joined = take_published();
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(member_of(r, "dan")->at("joined_seq").as_int64(), joined[0]->ev.seq);
  EXPECT_FALSE(member_of(r, "dan")->contains("left_seq"));
  EXPECT_EQ(send(dan, c, "back")["duplicate"].as_bool(), false);

  // A direct conversation has fixed members.
  auto d =
      ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "bob"}})["conversation"].as_object();
  expect_error(fail(ann.who, "members.remove", {{"conv", d.at("id").as_int64()}, {"user", "bob"}}),
               errc::invalid, "conv");
}

TEST_F(RolesTest, SetRole) {
  EXPECT_EQ(
      fail(bob.who, "members.set_role", {{"conv", c}, {"user", "cat"}, {"role", "admin"}}).code,
      errc::forbidden);
  EXPECT_EQ(
      fail(cat.who, "members.set_role", {{"conv", c}, {"user", "dan"}, {"role", "admin"}}).code,
      errc::forbidden);
  expect_error(fail(ann.who, "members.set_role", {{"conv", c}, {"user", "ann"}, {"role", "admin"}}),
               errc::invalid, "user");
  expect_error(fail(ann.who, "members.set_role", {{"conv", c}, {"user", "eve"}, {"role", "admin"}}),
               errc::not_found, "user");
  EXPECT_TRUE(take_published().empty());
  EXPECT_EQ(role_of("cat"), "member");

  auto r = ok(ann.who, "members.set_role", {{"conv", c}, {"user", "cat"}, {"role", "admin"}});
  EXPECT_EQ(member_of(r, "cat")->at("role").as_string(), "admin");
  r = ok(ann.who, "members.set_role", {{"conv", c}, {"user", "bob"}, {"role", "member"}});
  EXPECT_EQ(member_of(r, "bob")->at("role").as_string(), "member");
  auto pub = take_published();
  ASSERT_EQ(pub.size(), 2u);
  EXPECT_EQ(pub[1]->ev.type, "member.updated");
  EXPECT_EQ(
      json::parse(pub[1]->ev.data),
      json::parse(R"({"user":{"id":)" + std::to_string(bob.u.id) +
                  R"(,"handle":"bob"},"role":"member","by":)" + std::to_string(ann.u.id) + "}"));

  // The new roles take effect: bob can no longer add, cat now can.
  EXPECT_EQ(fail(bob.who, "members.add", {{"conv", c}, {"user", "eve"}}).code, errc::forbidden);
  EXPECT_TRUE(call(cat.who, "members.add", {{"conv", c}, {"user", "eve"}}));
}

TEST_F(RolesTest, ConvUpdate) {
  EXPECT_EQ(fail(cat.who, "conv.update", {{"conv", c}, {"title", "mine"}}).code, errc::forbidden);
  EXPECT_TRUE(take_published().empty());
  auto r = ok(bob.who, "conv.update", {{"conv", c}, {"title", "renamed"}});
  EXPECT_EQ(r["conversation"].as_object().at("title").as_string(), "renamed");
  ASSERT_TRUE(member_of(r, "ann"));
  auto pub = take_published();
  ASSERT_EQ(pub.size(), 1u);
  EXPECT_EQ(pub[0]->ev.type, "conversation.updated");
  EXPECT_EQ(json::parse(pub[0]->ev.data), json::parse(R"({"title":"renamed"})"));
  EXPECT_EQ(ok(ann.who, "conv.update", {{"conv", c}, {"title", ""}})["conversation"]
                .at("title")
                .as_string(),
            "");

  auto d =
      ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "bob"}})["conversation"].as_object();
  expect_error(fail(ann.who, "conv.update", {{"conv", d.at("id").as_int64()}, {"title", "x"}}),
               errc::invalid, "conv");
}

TEST_F(ServiceTest, GroupMemberLimit) {
  make_service([](service_options& o) { o.group_max_members = 3; });
  auto ann = signup("ann");
  for (const char* h : {"bob", "cat", "dan"}) signup(h);
  expect_error(
      fail(ann.who, "conv.create", {{"kind", "group"}, {"members", {"bob", "cat", "dan"}}}),
      errc::too_large, "members");
  conv_id c = group(ann, {"bob", "cat"});
  expect_error(fail(ann.who, "members.add", {{"conv", c}, {"user", "dan"}}), errc::too_large,
               "user");
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "cat"}});
  EXPECT_TRUE(call(ann.who, "members.add", {{"conv", c}, {"user", "dan"}}));
}

// ---------------------------------------------------------------------------------------
// Conversations

TEST_F(ServiceTest, DirectConversationIsUniquePerPair) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  auto r = ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "bob"}});
  const auto& conv = r["conversation"].as_object();
  conv_id d = conv.at("id").as_int64();
  EXPECT_EQ(conv.at("kind").as_string(), "direct");
  EXPECT_EQ(conv.at("last_seq").as_int64(), 1);
  EXPECT_EQ(conv.at("members").as_array().size(), 2u);
  EXPECT_EQ(member_of(r, "bob")->at("role").as_string(), "member");
  auto pub = take_published();
  ASSERT_EQ(pub.size(), 1u);
  EXPECT_EQ(pub[0]->ev.type, "conversation.created");
  std::vector<user_id> pair{ann.u.id, bob.u.id};
  std::sort(pair.begin(), pair.end());
  EXPECT_EQ(pub[0]->recipients, pair);

  // Either side asking again gets the same conversation and nothing new happens.
  auto again = ok(bob.who, "conv.create", {{"kind", "direct"}, {"peer", "ANN"}});
  EXPECT_EQ(again["conversation"].as_object().at("id").as_int64(), d);
  EXPECT_EQ(again["conversation"].as_object().at("last_seq").as_int64(), 1);
  EXPECT_EQ(ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "bob"}})["conversation"]
                .at("id")
                .as_int64(),
            d);
  EXPECT_TRUE(take_published().empty());

  expect_error(fail(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "ann"}}), errc::invalid,
               "peer");
  expect_error(fail(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "ghost"}}),
               errc::not_found, "peer");
}

TEST_F(ServiceTest, GroupCreationAndListing) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  auto r = ok(ann.who, "conv.create",
              {{"kind", "group"}, {"title", "team"}, {"members", {"bob", "BOB", "ann"}}});
  const auto& conv = r["conversation"].as_object();
  conv_id c = conv.at("id").as_int64();
  EXPECT_EQ(conv.at("kind").as_string(), "group");
  EXPECT_EQ(conv.at("title").as_string(), "team");
  EXPECT_EQ(conv.at("role").as_string(), "owner");
  EXPECT_EQ(conv.at("joined_seq").as_int64(), 1);
  EXPECT_EQ(conv.at("first_seq").as_int64(), 1);
  EXPECT_EQ(conv.at("last_seq").as_int64(), 1);
  EXPECT_EQ(conv.at("members").as_array().size(), 2u);  // duplicates and the creator collapse
  EXPECT_EQ(member_of(r, "ann")->at("role").as_string(), "owner");
  EXPECT_EQ(member_of(r, "bob")->at("role").as_string(), "member");

  auto pub = take_published();
  ASSERT_EQ(pub.size(), 1u);
  auto data = json::parse(pub[0]->ev.data).as_object();
  EXPECT_EQ(data.at("kind").as_string(), "group");
  EXPECT_EQ(data.at("title").as_string(), "team");
  EXPECT_EQ(data.at("members").as_array().size(), 2u);

  conv_id c2 = group(ann, {}, "solo");
  auto list = ok(ann.who, "conv.list")["conversations"].as_array();
  ASSERT_EQ(list.size(), 2u);
  std::set<std::int64_t> ids{list[0].at("id").as_int64(), list[1].at("id").as_int64()};
  EXPECT_EQ(ids, (std::set<std::int64_t>{c, c2}));
  EXPECT_FALSE(list[0].as_object().contains("members"));  // only from conv.get and friends
  auto bobs = ok(bob.who, "conv.list")["conversations"].as_array();
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].at("role").as_string(), "member");
}

// ---------------------------------------------------------------------------------------
// Events on the bus

TEST_F(ServiceTest, PublishedEventsCarryRecipientsAndTheirFrame) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  auto cat = signup("cat");
  auto dan = signup("dan");
  auto sorted = [](std::vector<user_id> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  conv_id c = group(ann, {"bob", "cat"});
  send(bob, c, "b-1", "hi all");
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "cat"}});
  send(ann, c, "a-1", "cat is gone");
  ok(ann.who, "members.add", {{"conv", c}, {"user", "dan"}});
  ok(bob.who, "members.remove", {{"conv", c}, {"user", "bob"}});

  auto pub = take_published();
  ASSERT_EQ(pub.size(), 6u);
  std::vector<std::string> types;
  for (const auto& e : pub) types.push_back(e->ev.type);
  EXPECT_EQ(types,
            (std::vector<std::string>{"conversation.created", "message.created", "member.left",
                                      "message.created", "member.joined", "member.left"}));
  EXPECT_EQ(pub[0]->recipients, sorted({ann.u.id, bob.u.id, cat.u.id}));
  EXPECT_EQ(pub[1]->recipients, sorted({ann.u.id, bob.u.id, cat.u.id}));
  EXPECT_EQ(pub[1]->ev.sender, bob.u.id);
  EXPECT_EQ(pub[1]->ev.client_msg_id, "b-1");
  EXPECT_EQ(pub[2]->recipients, sorted({ann.u.id, bob.u.id, cat.u.id}));  // cat learns of it
  EXPECT_EQ(pub[3]->recipients, sorted({ann.u.id, bob.u.id}));
  EXPECT_EQ(pub[4]->recipients, sorted({ann.u.id, bob.u.id, dan.u.id}));  // dan sees his join
  EXPECT_EQ(pub[5]->recipients, sorted({ann.u.id, bob.u.id, dan.u.id}));  // bob sees his leave
  EXPECT_EQ(json::parse(pub[5]->ev.data).at("by").as_int64(), bob.u.id);

  // Each frame is exactly {"ev":<event>}, and the event is the stored one.
  auto page = history(ann, {{"conv", c}});
  const auto& stored = page["events"].as_array();
  ASSERT_EQ(stored.size(), pub.size());
  for (std::size_t i = 0; i < pub.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& e = pub[i]->ev;
    EXPECT_EQ(e.conv, c);
    EXPECT_EQ(e.seq, static_cast<seq_t>(i + 1));
    ASSERT_TRUE(pub[i]->frame);
    EXPECT_EQ(*pub[i]->frame, "{\"ev\":" + encode_event(e) + "}");
    EXPECT_EQ(json::parse(*pub[i]->frame).at("ev"), stored[i]);
  }
}

// ---------------------------------------------------------------------------------------
// History

TEST_F(ServiceTest, HistoryPagesBeforeAfterAndLimit) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  for (int i = 0; i < 10; ++i) send(ann, c, "m" + std::to_string(i));  // seqs 2..11

  auto page = history(ann, {{"conv", c}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(9, 11));
  EXPECT_TRUE(page["has_more"].as_bool());
  EXPECT_EQ(page["first_seq"].as_int64(), 1);
  EXPECT_EQ(page["last_seq"].as_int64(), 11);

  page = history(ann, {{"conv", c}});  // default limit 50
  EXPECT_EQ(seqs(page), range(1, 11));
  EXPECT_FALSE(page["has_more"].as_bool());

  page = history(ann, {{"conv", c}, {"before", 9}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(6, 8));
  EXPECT_TRUE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"before", 4}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(1, 3));
  EXPECT_FALSE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"before", 3}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(1, 2));
  EXPECT_FALSE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"before", 1}});
  EXPECT_TRUE(seqs(page).empty());
  EXPECT_FALSE(page["has_more"].as_bool());

  page = history(ann, {{"conv", c}, {"after", 7}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(8, 10));
  EXPECT_TRUE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"after", 8}, {"limit", 3}});
  EXPECT_EQ(seqs(page), range(9, 11));
  EXPECT_FALSE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"after", 11}});
  EXPECT_TRUE(seqs(page).empty());
  EXPECT_FALSE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"after", 0}, {"limit", 200}});
  EXPECT_EQ(seqs(page), range(1, 11));

  // Paging back from the newest page visits every event once.
  std::vector<std::int64_t> all;
  json::object args{{"conv", c}, {"limit", 4}};
  for (;;) {
    auto p = history(ann, args);
    auto s = seqs(p);
    all.insert(all.begin(), s.begin(), s.end());
    if (!p["has_more"].as_bool()) break;
    args["before"] = s.front();
  }
  EXPECT_EQ(all, range(1, 11));
}

TEST_F(ServiceTest, HistoryStartsAtFirstSeqAfterPruning) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  auto first = send(ann, c, "early");                                 // seq 2, pruned below
  for (int i = 0; i < 8; ++i) send(ann, c, "m" + std::to_string(i));  // seqs 3..10
  auto p = std::make_shared<std::promise<error>>();
  auto f = p->get_future();
  st_->write(
      [c](write_txn& t) {
        t.prune_before(c, 6);
        return error{errc::ok, {}, {}, 0};
      },
      [p](const error& e) { p->set_value(e); });
  ASSERT_EQ(test::get_or_throw(f).code, errc::ok);

  auto page = history(ann, {{"conv", c}});
  EXPECT_EQ(seqs(page), range(6, 10));
  EXPECT_EQ(page["first_seq"].as_int64(), 6);
  EXPECT_FALSE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"after", 2}, {"limit", 2}});
  EXPECT_EQ(seqs(page), range(6, 7));
  EXPECT_TRUE(page["has_more"].as_bool());
  page = history(ann, {{"conv", c}, {"before", 8}, {"limit", 5}});
  EXPECT_EQ(seqs(page), range(6, 7));
  EXPECT_FALSE(page["has_more"].as_bool());
  EXPECT_EQ(ok(ann.who, "conv.get", {{"conv", c}})["conversation"].at("first_seq").as_int64(), 6);

  // The idempotency key outlives its pruned event: a retry still gets the original ack.
  take_published();
  auto retry = send(ann, c, "early", "resent after pruning");
  EXPECT_TRUE(retry["duplicate"].as_bool());
  EXPECT_EQ(retry["seq"], first["seq"]);
  EXPECT_EQ(retry["id"], first["id"]);
  EXPECT_EQ(retry["ts"], first["ts"]);
  EXPECT_EQ(retry["client_msg_id"].as_string(), "early");
  EXPECT_TRUE(take_published().empty());
  EXPECT_EQ(seqs(history(ann, {{"conv", c}})), range(6, 10));
}

TEST_F(ServiceTest, HistoryCursorsOutsideSeqRangeAreInvalid) {
  auto ann = signup("ann");
  conv_id c = group(ann, {});
  send(ann, c, "m1");
  // Cursors are seqs; values that could wrap around in arithmetic are rejected.
  for (auto [key, v] : std::vector<std::pair<const char*, std::int64_t>>{{"after", INT64_MAX},
                                                                         {"after", -5},
                                                                         {"before", INT64_MIN},
                                                                         {"before", 0},
                                                                         {"before", -5}}) {
    SCOPED_TRACE(std::string(key) + "=" + std::to_string(v));
    auto r = call(ann.who, "history", {{"conv", c}, {key, v}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::invalid);
    EXPECT_EQ(r.err().field, key);
  }
  EXPECT_EQ(seqs(history(ann, {{"conv", c}, {"after", 0}})), range(1, 2));
  EXPECT_TRUE(seqs(history(ann, {{"conv", c}, {"before", 1}})).empty());
}

}  // namespace
}  // namespace parley
