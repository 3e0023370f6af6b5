// Rich messages in parley::service: replies, threads, reactions, edits, deletes, mentions,
// unread counts and who may do what (docs/protocol.md, "Messages").
#include <chrono>

#include "service_fixture.hpp"

namespace parley {
namespace {

using namespace svc_test;
namespace json = boost::json;

class MessagesTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    ann = signup("ann");
    bob = signup("bob");
    cat = signup("cat");
    eve = signup("eve");  // never a member
    c = group(ann, {"bob", "cat"});
    take_published();
  }
  // Sends and returns the new message's seq.
  std::int64_t post(const account& a, const std::string& text, json::object extra = {}) {
    json::object args{{"conv", c}, {"client_msg_id", "m" + std::to_string(++n_)}, {"text", text}};
    for (auto& [k, v] : extra) args[k] = v;
    return ok(a.who, "send", args)["seq"].as_int64();
  }
  json::array messages(const account& a, json::object extra = {}) {
    json::object args{{"conv", c}};
    for (auto& [k, v] : extra) args[k] = v;
    return ok(a.who, "messages", args)["messages"].as_array();
  }
  // The message with `seq` in a messages or thread page.
  static const json::object& find(const json::array& page, std::int64_t seq) {
    for (const auto& m : page)
      if (m.as_object().at("seq").as_int64() == seq) return m.as_object();
    throw std::runtime_error("message " + std::to_string(seq) + " not in the page");
  }
  // The newest published event, parsed.
  json::object last_event() {
    auto evs = take_published();
    if (evs.empty()) throw std::runtime_error("nothing published");
    const auto& e = evs.back()->ev;
    auto o = json::parse(encode_event(e)).as_object();
    return o;
  }
  json::object conv_entry(const account& a) {
    auto list = ok(a.who, "conv.list");
    for (const auto& x : list["conversations"].as_array())
      if (x.as_object().at("id").as_int64() == c) return x.as_object();
    throw std::runtime_error("conversation not listed");
  }
  json::object event_at(const account& a, std::int64_t seq) {
    auto page = history(a, {{"conv", c}, {"after", seq - 1}, {"limit", 1}});
    return page.at("events").as_array().at(0).as_object();
  }
  account ann, bob, cat, eve;
  conv_id c = 0;
  int n_ = 0;
};

// ---------------------------------------------------------------------------------------
// Replies

TEST_F(MessagesTest, ReplyQuotesAMessageAndSurvivesItsDeletionAsATombstone) {
  auto q = post(ann, "the original");
  take_published();
  auto r = post(bob, "my answer", {{"reply_to", q}});
  auto ev = last_event();
  EXPECT_EQ(ev.at("data").at("reply_to").as_int64(), q);
  auto page = messages(cat);
  const auto& quoted = find(page, r).at("reply_to").as_object();
  EXPECT_EQ(quoted.at("seq").as_int64(), q);
  EXPECT_EQ(quoted.at("text").as_string(), "the original");
  EXPECT_EQ(quoted.at("sender").as_int64(), ann.u.id);

  ok(ann.who, "delete", {{"conv", c}, {"msg", q}});
  page = messages(cat);
  const auto& tomb = find(page, r).at("reply_to").as_object();
  EXPECT_TRUE(tomb.at("deleted").as_bool());
  EXPECT_FALSE(tomb.contains("text"));
  EXPECT_EQ(find(page, r).at("text").as_string(), "my answer");
}

TEST_F(MessagesTest, ReplyToAMissingOrNonMessageEventIsNotFound) {
  expect_error(fail(ann.who, "send",
                    {{"conv", c}, {"client_msg_id", "x1"}, {"text", "hi"}, {"reply_to", 999}}),
               errc::not_found, "reply_to");
  // seq 1 is conversation.created, not a message.
  expect_error(fail(ann.who, "send",
                    {{"conv", c}, {"client_msg_id", "x2"}, {"text", "hi"}, {"reply_to", 1}}),
               errc::not_found, "reply_to");
  expect_error(fail(ann.who, "send",
                    {{"conv", c}, {"client_msg_id", "x3"}, {"text", "hi"}, {"reply_to", 0}}),
               errc::invalid, "reply_to");
  // A message of another conversation does not exist here.
  auto other = group(bob, {"ann"}, "other");
  auto there = ok(bob.who, "send", {{"conv", other}, {"client_msg_id", "o1"}, {"text", "x"}});
  auto seq = there["seq"].as_int64() + 50;  // beyond this conversation's log
  expect_error(fail(ann.who, "send",
                    {{"conv", c}, {"client_msg_id", "x4"}, {"text", "hi"}, {"reply_to", seq}}),
               errc::not_found, "reply_to");
}

// ---------------------------------------------------------------------------------------
// Threads

TEST_F(MessagesTest, ThreadRepliesUpdateTheRootSummaryAndAreListedByThread) {
  auto root = post(ann, "let's discuss");
  auto r1 = post(bob, "first", {{"thread", root}});
  auto r2 = post(cat, "second", {{"thread", root}});
  auto r3 = post(bob, "third", {{"thread", root}});

  // The main timeline holds the root only, with its summary.
  auto page = messages(ann);
  ASSERT_EQ(page.size(), 1u);
  const auto& sum = find(page, root).at("replies").as_object();
  EXPECT_EQ(sum.at("count").as_int64(), 3);
  EXPECT_TRUE(sum.contains("last_ts"));
  EXPECT_EQ(sum.at("participants").as_array(), (json::array{bob.u.id, cat.u.id}));
  EXPECT_TRUE(sum.at("following").as_bool());  // the root's author follows on the first reply

  auto th = ok(cat.who, "thread", {{"conv", c}, {"thread", root}, {"limit", 2}});
  EXPECT_EQ(th.at("root").at("seq").as_int64(), root);
  auto replies = th.at("replies").as_array();
  ASSERT_EQ(replies.size(), 2u);  // the newest two
  EXPECT_EQ(replies[0].at("seq").as_int64(), r2);
  EXPECT_EQ(replies[1].at("seq").as_int64(), r3);
  EXPECT_TRUE(th.at("has_more").as_bool());
  auto older = ok(cat.who, "thread", {{"conv", c}, {"thread", root}, {"before", r2}});
  ASSERT_EQ(older.at("replies").as_array().size(), 1u);
  EXPECT_EQ(older.at("replies").as_array()[0].at("seq").as_int64(), r1);
  EXPECT_EQ(older.at("replies").as_array()[0].at("thread").as_int64(), root);

  // Deleting a reply takes it out of the count.
  ok(bob.who, "delete", {{"conv", c}, {"msg", r1}});
  EXPECT_EQ(find(messages(ann), root).at("replies").at("count").as_int64(), 2);
}

TEST_F(MessagesTest, ThreadRulesAndFollowing) {
  auto root = post(ann, "root");
  auto reply = post(bob, "reply", {{"thread", root}});
  expect_error(fail(cat.who, "send",
                    {{"conv", c}, {"client_msg_id", "t1"}, {"text", "x"}, {"thread", reply}}),
               errc::invalid, "thread");
  expect_error(fail(cat.who, "send",
                    {{"conv", c}, {"client_msg_id", "t2"}, {"text", "x"}, {"thread", 9999}}),
               errc::not_found, "thread");
  expect_error(fail(cat.who, "thread", {{"conv", c}, {"thread", reply}}), errc::not_found,
               "thread");

  // cat follows without replying, sees it in threads, unfollows.
  auto f = ok(cat.who, "follow", {{"conv", c}, {"thread", root}});
  EXPECT_TRUE(f.at("changed").as_bool());
  EXPECT_FALSE(ok(cat.who, "follow", {{"conv", c}, {"thread", root}}).at("changed").as_bool());
  auto ts = ok(cat.who, "threads", {})["threads"].as_array();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].at("thread").as_int64(), root);
  EXPECT_EQ(ts[0].at("unread").as_int64(), 1);  // bob's reply
  ok(cat.who, "unfollow", {{"conv", c}, {"thread", root}});
  EXPECT_TRUE(ok(cat.who, "threads", {})["threads"].as_array().empty());
  // The follow change reached cat's devices as a notice.
  std::lock_guard lk(mu_);
  int follow_notices = 0;
  for (const auto& [u, f2] : notices_)
    if (u == cat.u.id && f2.find("\"notice\":\"follow\"") != std::string::npos) ++follow_notices;
  EXPECT_EQ(follow_notices, 2);
}

TEST_F(MessagesTest, PerThreadUnreadCountsFollowTheThreadReadPointer) {
  auto root = post(ann, "root");
  post(bob, "r1", {{"thread", root}});
  auto r2 = post(bob, "r2 @ann", {{"thread", root}});
  auto ts = ok(ann.who, "threads", {{"conv", c}})["threads"].as_array();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].at("unread").as_int64(), 2);
  EXPECT_EQ(ts[0].at("mentions").as_int64(), 1);
  auto rd = ok(ann.who, "read", {{"conv", c}, {"thread", root}, {"seq", r2}});
  EXPECT_EQ(rd.at("unread").as_int64(), 0);
  ts = ok(ann.who, "threads", {{"conv", c}})["threads"].as_array();
  EXPECT_EQ(ts[0].at("unread").as_int64(), 0);
  EXPECT_EQ(ts[0].at("mentions").as_int64(), 0);
  // Thread replies do not count in the conversation's own unread count.
  EXPECT_EQ(conv_entry(ann).at("unread").as_int64(), 0);
}

// ---------------------------------------------------------------------------------------
// Reactions

TEST_F(MessagesTest, ReactionsAreIdempotentAggregatedAndRemovable) {
  auto m = post(ann, "nice");
  take_published();
  auto r = ok(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}});
  EXPECT_TRUE(r.at("changed").as_bool());
  auto ev = last_event();
  EXPECT_EQ(ev.at("type").as_string(), "reaction.added");
  EXPECT_EQ(ev.at("data").at("emoji").as_string(), "👍");
  EXPECT_EQ(ev.at("data").at("msg").as_int64(), m);
  // Again: nothing changes and nothing is published.
  EXPECT_FALSE(
      ok(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}).at("changed").as_bool());
  EXPECT_TRUE(take_published().empty());
  ok(cat.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}});
  ok(cat.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👨‍👩‍👧"}});
  auto rs = find(messages(ann), m).at("reactions").as_array();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].at("emoji").as_string(), "👍");
  EXPECT_EQ(rs[0].at("count").as_int64(), 2);
  EXPECT_EQ(rs[0].at("users").as_array(), (json::array{bob.u.id, cat.u.id}));
  EXPECT_EQ(rs[1].at("count").as_int64(), 1);

  EXPECT_TRUE(
      ok(bob.who, "unreact", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}).at("changed").as_bool());
  EXPECT_EQ(last_event().at("type").as_string(), "reaction.removed");
  EXPECT_FALSE(
      ok(bob.who, "unreact", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}).at("changed").as_bool());
  rs = find(messages(ann), m).at("reactions").as_array();
  EXPECT_EQ(rs[0].at("count").as_int64(), 1);
}

TEST_F(MessagesTest, ReactionsAreValidatedAndLimited) {
  auto m = post(ann, "x");
  for (const char* bad : {"", "a", "ab", "👍👍", "👍a", "\xf0\x9f", "🇫", "1", ":+1:", "\xe2\x80\x8d"})
    expect_error(fail(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", bad}}), errc::invalid,
                 "emoji");
  for (const char* good : {"❤️", "🇫🇷", "1️⃣", "👋🏽", "🏴‍☠️",
                           "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "©"})
    EXPECT_TRUE(
        ok(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", good}}).at("changed").as_bool())
        << good;
  const char* more[] = {"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍"};
  for (const char* e : more) ok(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", e}});
  // 7 + 13 = 20, the limit: the next one is refused and leaves nothing behind.
  expect_error(fail(bob.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "🙂"}}),
               errc::too_large, "emoji");
  std::int64_t total = 0;
  auto page = messages(ann);
  for (const auto& r : find(page, m).at("reactions").as_array()) total += r.at("count").as_int64();
  EXPECT_EQ(total, 20);
  expect_error(fail(bob.who, "react", {{"conv", c}, {"msg", 1}, {"emoji", "👍"}}), errc::not_found,
               "msg");
}

// ---------------------------------------------------------------------------------------
// Edits

TEST_F(MessagesTest, OnlyTheSenderEditsAndTheHistoryIsKept) {
  auto m = post(ann, "version 1");
  take_published();
  auto e1 = ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "version 2"}});
  EXPECT_TRUE(e1.at("changed").as_bool());
  auto ev = last_event();
  EXPECT_EQ(ev.at("type").as_string(), "message.edited");
  EXPECT_EQ(ev.at("data").at("text").as_string(), "version 2");
  ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "version 3"}});
  EXPECT_FALSE(ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "version 3"}})
                   .at("changed")
                   .as_bool());

  expect_error(fail(bob.who, "edit", {{"conv", c}, {"msg", m}, {"text", "hijack"}}),
               errc::forbidden, "msg");
  auto view = find(messages(bob), m);
  EXPECT_EQ(view.at("text").as_string(), "version 3");
  EXPECT_TRUE(view.contains("edited_ts"));
  auto hist = ok(bob.who, "edits", {{"conv", c}, {"msg", m}});
  auto vs = hist.at("versions").as_array();
  ASSERT_EQ(vs.size(), 2u);
  EXPECT_EQ(vs[0].at("text").as_string(), "version 1");
  EXPECT_EQ(vs[1].at("text").as_string(), "version 2");
  EXPECT_EQ(hist.at("current").at("text").as_string(), "version 3");
  expect_error(fail(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", ""}}), errc::invalid,
               "text");
}

TEST_F(MessagesTest, EditWindowIsEnforced) {
  make_service([](service_options& o) { o.edit_window_ms = 1; });
  auto m = post(ann, "quick");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  expect_error(fail(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "late"}}), errc::forbidden,
               "msg");
}

// ---------------------------------------------------------------------------------------
// Deletes

TEST_F(MessagesTest, DeleteRemovesTheContentFromStorageAndLeavesATombstone) {
  auto m = post(bob, "secret plan");
  ok(bob.who, "edit", {{"conv", c}, {"msg", m}, {"text", "secret plan v2"}});
  auto edit_seq = m + 1;
  ok(ann.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}});
  take_published();
  auto d = ok(bob.who, "delete", {{"conv", c}, {"msg", m}});
  EXPECT_TRUE(d.at("changed").as_bool());
  auto ev = last_event();
  EXPECT_EQ(ev.at("type").as_string(), "message.deleted");
  EXPECT_EQ(ev.at("data").at("msg").as_int64(), m);

  // The log keeps the events, without the text.
  auto created = event_at(cat, m);
  EXPECT_EQ(created.at("type").as_string(), "message.created");
  EXPECT_TRUE(created.at("data").at("deleted").as_bool());
  EXPECT_FALSE(created.at("data").as_object().contains("text"));
  auto edited = event_at(cat, edit_seq);
  EXPECT_EQ(edited.at("type").as_string(), "message.edited");
  EXPECT_FALSE(edited.at("data").as_object().contains("text"));
  // The message view and its history are empty.
  auto view = find(messages(cat), m);
  EXPECT_TRUE(view.at("deleted").as_bool());
  EXPECT_FALSE(view.contains("text"));
  EXPECT_FALSE(view.contains("reactions"));
  expect_error(fail(cat.who, "edits", {{"conv", c}, {"msg", m}}), errc::conflict, "msg");
  // Nothing of it is left in the database file's tables (read through a fresh reader).
  auto hits = std::make_shared<std::promise<std::int64_t>>();
  auto f = hits->get_future();
  st_->read(
      [&](read_txn& t) {
        std::int64_t n = 0;
        for (const auto& e : t.read_events(c, 1, 1000, 1000))
          if (e.data.find("secret") != std::string::npos) ++n;
        if (auto ms = t.find_message(c, m); ms && !ms->text.empty()) ++n;
        n += static_cast<std::int64_t>(t.list_edits(c, m).size());
        hits->set_value(n);
      },
      {});
  EXPECT_EQ(test::get_or_throw(f), 0);
  // Deleting again changes nothing; editing or reacting is a conflict.
  EXPECT_FALSE(ok(bob.who, "delete", {{"conv", c}, {"msg", m}}).at("changed").as_bool());
  expect_error(fail(bob.who, "edit", {{"conv", c}, {"msg", m}, {"text", "again"}}), errc::conflict,
               "msg");
  expect_error(fail(cat.who, "react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}), errc::conflict,
               "msg");
}

TEST_F(MessagesTest, WhoMayDelete) {
  auto by_cat = post(cat, "cat's");
  auto by_ann = post(ann, "ann's");
  // A member may not delete another's message; the owner (and admins) may.
  expect_error(fail(bob.who, "delete", {{"conv", c}, {"msg", by_cat}}), errc::forbidden, "msg");
  EXPECT_TRUE(ok(ann.who, "delete", {{"conv", c}, {"msg", by_cat}}).at("changed").as_bool());
  ok(ann.who, "members.set_role", {{"conv", c}, {"user", "bob"}, {"role", "admin"}});
  EXPECT_TRUE(ok(bob.who, "delete", {{"conv", c}, {"msg", by_ann}}).at("changed").as_bool());
  // In a direct conversation only the sender deletes.
  auto d = ok(ann.who, "conv.create", {{"kind", "direct"}, {"peer", "cat"}})["conversation"]
               .as_object()["id"]
               .as_int64();
  auto m = ok(cat.who, "send", {{"conv", d}, {"client_msg_id", "d1"}, {"text", "hi"}})["seq"];
  expect_error(fail(ann.who, "delete", {{"conv", d}, {"msg", m}}), errc::forbidden, "msg");
  EXPECT_TRUE(ok(cat.who, "delete", {{"conv", d}, {"msg", m}}).at("changed").as_bool());
}

// ---------------------------------------------------------------------------------------
// Mentions and unread counts

TEST_F(MessagesTest, MentionsAreResolvedAmongMembersAndCounted) {
  take_published();
  auto m = post(ann, "hey @Bob and @eve, also @cat. and @nobody and bob@mail");
  auto ev = last_event();
  // eve is not a member; nobody does not exist; bob@mail is not a mention.
  EXPECT_EQ(ev.at("data").at("mentions").as_array(), (json::array{bob.u.id, cat.u.id}));
  EXPECT_EQ(find(messages(bob), m).at("mentions").as_array(), (json::array{bob.u.id, cat.u.id}));
  auto entry = conv_entry(bob);
  EXPECT_EQ(entry.at("mentions").as_int64(), 1);
  EXPECT_EQ(entry.at("unread").as_int64(), 1);
  ok(bob.who, "read", {{"conv", c}, {"seq", m}});
  entry = conv_entry(bob);
  EXPECT_EQ(entry.at("mentions").as_int64(), 0);
  EXPECT_EQ(entry.at("unread").as_int64(), 0);
  // bob and cat got a mention notice; ann (the sender) did not.
  {
    std::lock_guard lk(mu_);
    std::vector<user_id> noticed;
    for (const auto& [u, f] : notices_)
      if (f.find("\"notice\":\"mention\"") != std::string::npos &&
          f.find("\"seq\":" + std::to_string(m)) != std::string::npos)
        noticed.push_back(u);
    EXPECT_EQ(noticed, (std::vector<user_id>{bob.u.id, cat.u.id}));
  }
  // Self-mentions do not count.
  take_published();
  post(ann, "note to @ann");
  EXPECT_FALSE(last_event().at("data").as_object().contains("mentions"));
}

TEST_F(MessagesTest, UnreadCountsAreMonotonicAndSharedByTheUsersDevices) {
  auto m1 = post(ann, "one");
  auto m2 = post(ann, "two");
  post(bob, "mine do not count for me");
  auto m3 = post(ann, "three");
  EXPECT_EQ(conv_entry(bob).at("unread").as_int64(), 3);
  auto r = ok(bob.who, "read", {{"conv", c}, {"seq", m2}});
  EXPECT_TRUE(r.at("changed").as_bool());
  EXPECT_EQ(r.at("unread").as_int64(), 1);
  // Going back changes nothing.
  r = ok(bob.who, "read", {{"conv", c}, {"seq", m1}});
  EXPECT_FALSE(r.at("changed").as_bool());
  EXPECT_EQ(r.at("seq").as_int64(), m2);
  // A second device of bob sees the same count.
  caller anon;
  auto login = ok(anon, "login", {{"handle", "bob"}, {"password", kPassword}});
  auto dev2 = authenticate(std::string(login["token"].as_string()));
  ASSERT_TRUE(dev2);
  caller bob2;
  bob2.auth = *dev2;
  auto list2 = ok(bob2, "conv.list");
  for (const auto& x : list2["conversations"].as_array())
    if (x.at("id").as_int64() == c) {
      EXPECT_EQ(x.at("unread").as_int64(), 1);
    }
  // Deleted messages stop counting.
  ok(ann.who, "delete", {{"conv", c}, {"msg", m3}});
  EXPECT_EQ(conv_entry(bob).at("unread").as_int64(), 0);
  // Beyond the end is invalid.
  expect_error(fail(bob.who, "read", {{"conv", c}, {"seq", m3 + 100}}), errc::invalid, "seq");
  // Each advance was pushed to bob's devices.
  std::lock_guard lk(mu_);
  int reads = 0;
  for (const auto& [u, f] : notices_)
    if (u == bob.u.id && f.find("\"notice\":\"read\"") != std::string::npos) ++reads;
  EXPECT_EQ(reads, 1);
}

// ---------------------------------------------------------------------------------------
// Permissions: a stranger learns nothing; a former member changes nothing.

TEST_F(MessagesTest, StrangersGetNotFoundForEveryOperation) {
  auto m = post(ann, "hello");
  auto root = post(ann, "root");
  post(bob, "reply", {{"thread", root}});
  std::vector<std::pair<std::string, json::object>> calls = {
      {"edit", {{"conv", c}, {"msg", m}, {"text", "x"}}},
      {"delete", {{"conv", c}, {"msg", m}}},
      {"react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}},
      {"unreact", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}},
      {"follow", {{"conv", c}, {"thread", root}}},
      {"unfollow", {{"conv", c}, {"thread", root}}},
      {"read", {{"conv", c}, {"seq", m}}},
      {"messages", {{"conv", c}}},
      {"thread", {{"conv", c}, {"thread", root}}},
      {"edits", {{"conv", c}, {"msg", m}}},
      {"threads", {{"conv", c}}},
      {"send", {{"conv", c}, {"client_msg_id", "e1"}, {"text", "x"}, {"reply_to", m}}},
  };
  for (const auto& [op, args] : calls) {
    auto e = fail(eve.who, op, args);
    EXPECT_EQ(errc_name(e.code), errc_name(errc::not_found)) << op;
    EXPECT_EQ(e.field, "conv") << op;
    // The same answer as for a conversation id that was never used.
    auto missing = args;
    missing["conv"] = c + 1000;
    auto e2 = fail(eve.who, op, missing);
    EXPECT_EQ(e2.message, e.message) << op;
  }
}

TEST_F(MessagesTest, FormerMembersReadUpToLeavingButChangeNothing) {
  auto m = post(ann, "before");
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "cat"}});
  auto after = post(ann, "after");
  auto page = messages(cat);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].at("seq").as_int64(), m);
  for (const auto& [op, args] : std::vector<std::pair<std::string, json::object>>{
           {"react", {{"conv", c}, {"msg", m}, {"emoji", "👍"}}},
           {"edit", {{"conv", c}, {"msg", m}, {"text", "x"}}},
           {"delete", {{"conv", c}, {"msg", m}}},
           {"follow", {{"conv", c}, {"thread", m}}}})
    EXPECT_EQ(errc_name(fail(cat.who, op, args).code), errc_name(errc::forbidden)) << op;
  expect_error(fail(cat.who, "edits", {{"conv", c}, {"msg", after}}), errc::not_found, "msg");
}

TEST_F(MessagesTest, AnEditReparsesMentionsAndNotifiesOnlyTheNewlyMentioned) {
  auto m = post(ann, "ping @bob");
  {
    std::lock_guard lk(mu_);
    notices_.clear();
  }
  take_published();
  ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "ping @bob and @cat"}});
  EXPECT_EQ(last_event().at("data").at("mentions").as_array(), (json::array{bob.u.id, cat.u.id}));
  {
    std::lock_guard lk(mu_);
    std::vector<user_id> noticed;
    for (const auto& [u, f] : notices_)
      if (f.find("\"notice\":\"mention\"") != std::string::npos) noticed.push_back(u);
    EXPECT_EQ(noticed, std::vector<user_id>{cat.u.id});
  }
  EXPECT_EQ(conv_entry(cat).at("mentions").as_int64(), 1);
  // Dropping a mention stops it counting.
  ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "ping @cat only"}});
  EXPECT_EQ(conv_entry(bob).at("mentions").as_int64(), 0);
  EXPECT_EQ(conv_entry(cat).at("mentions").as_int64(), 1);
  EXPECT_EQ(find(messages(bob), m).at("mentions").as_array(), json::array{cat.u.id});
}

// ---------------------------------------------------------------------------------------
// Attachments (the HTTP transport computes the upload; here it is given)

class AttachmentsTest : public MessagesTest {
 protected:
  upload_info put(const account& a, const std::string& id_char, const std::string& type) {
    upload_info u{std::string(64, id_char[0]), 10, type, 0, 0};
    std::promise<result<std::string>> p;
    auto f = p.get_future();
    int installs = 0;
    svc_->put_upload(
        *a.who.auth, u,
        [&installs]() -> result<unit> {
          ++installs;
          return unit{};
        },
        [&p](result<std::string> r) { p.set_value(std::move(r)); });
    auto r = test::get_or_throw(f, "put_upload");
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    EXPECT_EQ(installs, 1);
    return u;
  }
  result<upload_info> open(const account& a, const std::string& id) {
    std::promise<result<upload_info>> p;
    auto f = p.get_future();
    svc_->open_upload(*a.who.auth, id, [&p](result<upload_info> r) { p.set_value(std::move(r)); });
    return test::get_or_throw(f, "open_upload");
  }
  static json::array atts(std::initializer_list<std::pair<std::string, std::string>> l) {
    json::array a;
    for (const auto& [id, name] : l) a.push_back(json::object{{"id", id}, {"name", name}});
    return a;
  }
};

TEST_F(AttachmentsTest, MessagesCarryUploadsTheSenderMayAttach) {
  auto pic = put(ann, "a", "image/png");
  auto doc = put(eve, "b", "application/pdf");
  auto m = post(ann, "", {{"attachments", atts({{pic.id, "cat.png"}})}});
  auto ev = last_event();
  auto& att = ev.at("data").at("attachments").as_array().at(0).as_object();
  EXPECT_EQ(att.at("id").as_string(), pic.id);
  EXPECT_EQ(att.at("name").as_string(), "cat.png");
  EXPECT_EQ(att.at("type").as_string(), "image/png");
  EXPECT_EQ(find(messages(bob), m).at("attachments").as_array().size(), 1u);
  // eve's upload is not ann's to attach, and unknown ids are refused alike.
  json::object args{{"conv", c}, {"client_msg_id", "x1"}, {"attachments", atts({{doc.id, "d"}})}};
  expect_error(fail(ann.who, "send", args), errc::not_found, "attachments");
  args["attachments"] = atts({{std::string(64, 'e'), "d"}});
  expect_error(fail(ann.who, "send", args), errc::not_found, "attachments");
  args["attachments"] = atts({{pic.id, "a"}, {pic.id, "b"}});
  expect_error(fail(ann.who, "send", args), errc::invalid, "attachments");
  args["attachments"] = atts({{"ABC", "a"}});
  expect_error(fail(ann.who, "send", args), errc::invalid, "attachments");
  // bob sees it in the group, so he may forward it.
  post(bob, "fwd", {{"attachments", atts({{pic.id, "again.png"}})}});
}

TEST_F(AttachmentsTest, DownloadsAreForUploadersAndReadersOfACarryingMessage) {
  auto pic = put(ann, "a", "image/png");
  EXPECT_TRUE(open(ann, pic.id));  // the uploader, before it is attached
  expect_error(open(bob, pic.id).err(), errc::not_found, "id");
  auto m = post(ann, "look", {{"attachments", atts({{pic.id, "p.png"}})}});
  EXPECT_EQ(open(bob, pic.id)->type, "image/png");
  expect_error(open(eve, pic.id).err(), errc::not_found, "id");
  // A former member keeps what was sent before leaving; not what came after.
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "cat"}});
  EXPECT_TRUE(open(cat, pic.id));
  auto later = put(ann, "c", "text/plain; charset=utf-8");
  post(ann, "later", {{"attachments", atts({{later.id, "l.txt"}})}});
  expect_error(open(cat, later.id).err(), errc::not_found, "id");
  // Deleting the message takes it away from the readers (not from the uploader).
  ok(ann.who, "delete", {{"conv", c}, {"msg", m}});
  expect_error(open(bob, pic.id).err(), errc::not_found, "id");
  EXPECT_TRUE(open(ann, pic.id));
  EXPECT_FALSE(find(messages(bob), m).contains("attachments"));
}

}  // namespace
}  // namespace parley
