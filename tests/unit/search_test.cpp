// Full-text search in parley::service: only what the caller may read, filters, paging,
// highlighted snippets, edits re-indexed and deletes purged (docs/protocol.md, "Search").
#include <sqlite3.h>

#include "service_fixture.hpp"

namespace parley {
namespace {

using namespace svc_test;
namespace json = boost::json;

class SearchTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    ann = signup("ann");
    bob = signup("bob");
    eve = signup("eve");
    c = group(ann, {"bob"});
    other = group(eve, {}, "eve's");
  }
  std::int64_t post(const account& a, conv_id conv, const std::string& text) {
    return ok(a.who, "send",
              {{"conv", conv}, {"client_msg_id", "s" + std::to_string(++n_)}, {"text", text}})
        .at("seq")
        .as_int64();
  }
  // Moves every stored message into the search index (the server does this in batches).
  void index() {
    std::promise<void> p;
    auto f = p.get_future();
    st_->write(
        [](write_txn& t) {
          while (t.index_pending(100) == 100) {
          }
          return error{errc::ok, {}, {}, 0};
        },
        [&p](const error&) { p.set_value(); });
    test::get_or_throw(f, "index");
  }
  json::object search(const account& a, json::object args) {
    index();
    return ok(a.who, "search", args);
  }
  static std::vector<std::int64_t> seqs(const json::object& r) {
    std::vector<std::int64_t> out;
    for (const auto& h : r.at("results").as_array()) out.push_back(h.at("seq").as_int64());
    return out;
  }
  account ann, bob, eve;
  conv_id c = 0, other = 0;
  int n_ = 0;
};

TEST_F(SearchTest, FindsOnlyWhatTheCallerMayReadNewestFirst) {
  auto m1 = post(ann, c, "the quarterly report is ready");
  auto m2 = post(bob, c, "Report received, thanks");
  post(eve, other, "eve's secret report");
  EXPECT_EQ(seqs(search(bob, {{"query", "report"}})), (std::vector<std::int64_t>{m2, m1}));
  // eve sees her own conversation only.
  auto r = search(eve, {{"query", "report"}});
  ASSERT_EQ(r.at("results").as_array().size(), 1u);
  EXPECT_EQ(r.at("results").as_array()[0].at("conv").as_int64(), other);
  // Asking for a conversation one is not in is not_found, as anywhere else.
  auto e = fail(eve.who, "search", {{"query", "report"}, {"conv", c}});
  EXPECT_EQ(errc_name(e.code), errc_name(errc::not_found));
  EXPECT_EQ(e.field, "conv");
}

TEST_F(SearchTest, SnippetsMarkTheMatchesAndDiacriticsFold) {
  post(ann, c, "Meet me at the café near the station");
  auto r = search(bob, {{"query", "cafe"}});
  ASSERT_EQ(r.at("results").as_array().size(), 1u);
  auto sn = r.at("results").as_array()[0].at("snippet").as_array();
  std::string plain, hits;
  for (const auto& seg : sn) {
    plain += std::string(seg.at("text").as_string());
    if (seg.as_object().contains("hit")) hits += std::string(seg.at("text").as_string());
  }
  EXPECT_EQ(plain, "Meet me at the café near the station");
  EXPECT_EQ(hits, "café");
}

TEST_F(SearchTest, FiltersBySenderConversationAndTime) {
  auto a1 = post(ann, c, "deploy today");
  auto b1 = post(bob, c, "deploy tomorrow");
  auto both = group(ann, {"bob"}, "second");
  auto a2 = post(ann, both, "deploy later");
  EXPECT_EQ(seqs(search(bob, {{"query", "deploy"}, {"sender", "ann"}})),
            (std::vector<std::int64_t>{a2, a1}));
  EXPECT_EQ(seqs(search(bob, {{"query", "deploy"}, {"conv", c}})),
            (std::vector<std::int64_t>{b1, a1}));
  auto all = search(bob, {{"query", "deploy"}}).at("results").as_array();
  ASSERT_EQ(all.size(), 3u);
  auto newest_ts = all[0].at("ts").as_int64();
  auto oldest_ts = all[2].at("ts").as_int64();
  auto older = search(bob, {{"query", "deploy"}, {"before", newest_ts}});
  for (const auto& h : older.at("results").as_array()) EXPECT_LT(h.at("ts").as_int64(), newest_ts);
  auto newer = search(bob, {{"query", "deploy"}, {"after", oldest_ts}});
  for (const auto& h : newer.at("results").as_array()) EXPECT_GT(h.at("ts").as_int64(), oldest_ts);
  auto e = fail(bob.who, "search", {{"query", "deploy"}, {"sender", "nobody"}});
  EXPECT_EQ(e.field, "sender");
}

TEST_F(SearchTest, PagesWithACursorWithoutRepeatsOrGaps) {
  std::vector<std::int64_t> all;
  for (int i = 0; i < 7; ++i) all.push_back(post(ann, c, "standup notes " + std::to_string(i)));
  std::reverse(all.begin(), all.end());
  std::vector<std::int64_t> got;
  json::object args{{"query", "standup"}, {"limit", 3}};
  for (int page = 0; page < 5; ++page) {
    auto r = search(bob, args);
    for (auto s : seqs(r)) got.push_back(s);
    if (r.at("cursor").is_null()) break;
    args["cursor"] = r.at("cursor");
  }
  EXPECT_EQ(got, all);
  expect_error(fail(bob.who, "search", {{"query", "x"}, {"cursor", "nonsense"}}), errc::invalid,
               "cursor");
}

TEST_F(SearchTest, EditsReindexAndDeletesPurge) {
  auto m = post(ann, c, "the launch code is alpha");
  ok(ann.who, "edit", {{"conv", c}, {"msg", m}, {"text", "the launch code is bravo"}});
  EXPECT_TRUE(seqs(search(bob, {{"query", "alpha"}})).empty());
  EXPECT_EQ(seqs(search(bob, {{"query", "bravo"}})), (std::vector<std::int64_t>{m}));
  ok(ann.who, "delete", {{"conv", c}, {"msg", m}});
  EXPECT_TRUE(seqs(search(bob, {{"query", "bravo"}})).empty());
  EXPECT_TRUE(seqs(search(bob, {{"query", "launch"}})).empty());
}

TEST_F(SearchTest, FormerMembersFindOnlyWhatCameBeforeTheyLeft) {
  auto before = post(ann, c, "budget draft");
  ok(ann.who, "members.remove", {{"conv", c}, {"user", "bob"}});
  post(ann, c, "budget final");
  EXPECT_EQ(seqs(search(bob, {{"query", "budget"}})), (std::vector<std::int64_t>{before}));
}

TEST_F(SearchTest, NewMessagesAreFoundOnceIndexedEditsAndDeletesBeforeIndexingToo) {
  auto m1 = post(ann, c, "orbit alpha");
  EXPECT_TRUE(seqs(ok(bob.who, "search", {{"query", "orbit"}})).empty());  // not indexed yet
  // Edited and deleted while waiting: the index gets the current state.
  auto m2 = post(ann, c, "orbit bravo");
  ok(ann.who, "edit", {{"conv", c}, {"msg", m1}, {"text", "orbit charlie"}});
  ok(ann.who, "delete", {{"conv", c}, {"msg", m2}});
  EXPECT_EQ(seqs(search(bob, {{"query", "orbit"}})), (std::vector<std::int64_t>{m1}));
  EXPECT_TRUE(seqs(search(bob, {{"query", "alpha"}})).empty());
  EXPECT_TRUE(seqs(search(bob, {{"query", "bravo"}})).empty());
  EXPECT_EQ(seqs(search(bob, {{"query", "charlie"}})), (std::vector<std::int64_t>{m1}));
}

TEST_F(SearchTest, QueriesCannotInjectSyntax) {
  post(ann, c, "alpha OR beta NEAR gamma");
  // Operators and quotes are plain words here; every word must match.
  EXPECT_EQ(seqs(search(bob, {{"query", "\"alpha\" OR NEAR( beta*"}})).size(), 1u);
  EXPECT_TRUE(seqs(search(bob, {{"query", "alpha -delta"}})).empty());
  EXPECT_EQ(fts_query("a \"b\" c*").value(), "\"a\" \"b\" \"c\"*");
  EXPECT_EQ(fts_query("NOT x").value(), "\"NOT\" \"x\"");
  expect_error(fail(bob.who, "search", {{"query", "!!! ..."}}), errc::invalid, "query");
  expect_error(fail(bob.who, "search", {{"query", ""}}), errc::invalid, "query");
  EXPECT_EQ(seqs(search(bob, {{"query", "bet*"}})).size(), 1u);  // prefix
}

// The index itself, not just search results: a deleted message's words stay in the FTS5
// segments (marked deleted) until purge_search_index has merged them away.
TEST_F(SearchTest, DeletedWordsLeaveTheIndexBytesOncePurged) {
  for (int i = 0; i < 20; ++i) post(ann, c, "ordinary chatter " + std::to_string(i));
  auto m = post(ann, c, "zyxwvutsecretword");
  index();
  auto occurrences = [&] {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.path().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw,
                                 "SELECT (SELECT count(*) FROM messages_fts_data WHERE "
                                 "instr(block, CAST('vutsecretword' AS BLOB)) > 0) + "
                                 "(SELECT count(*) FROM messages_fts_idx WHERE "
                                 "instr(term, CAST('vutsecretword' AS BLOB)) > 0)",
                                 -1, &q, nullptr),
              SQLITE_OK);
    EXPECT_EQ(sqlite3_step(q), SQLITE_ROW);
    auto n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(raw);
    return n;
  };
  EXPECT_GT(occurrences(), 0);  // the probe finds the word while it is indexed
  ok(ann.who, "delete", {{"conv", c}, {"msg", m}});
  EXPECT_GT(occurrences(), 0);  // deleted, but its postings wait for a merge
  std::promise<void> p;
  auto f = p.get_future();
  st_->write(
      [](write_txn& t) {
        for (int i = 0; i < 1000 && t.purge_search_index(16); ++i) {
        }
        return error{errc::ok, {}, {}, 0};
      },
      [&p](const error&) { p.set_value(); });
  test::get_or_throw(f, "purge");
  EXPECT_EQ(occurrences(), 0);
  EXPECT_EQ(seqs(search(ann, {{"query", "chatter"}})).size(), 20u);  // the rest is intact
}

// FTS5 writes its in-memory terms out as a new segment whenever a statement holding a
// statement journal ends; the indexer must move a whole batch in with one flush, not one
// per message (a segment per message made indexing most of the writer's work). The
// structure record (rowid 10 of the _data table) starts with a 4-byte cookie and the
// varints nLevel, nSegment and nWriteCounter; the last counts the segments ever written.
TEST_F(SearchTest, AnIndexingRoundWritesOneSegment) {
  auto write_counter = [&] {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.path().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, "SELECT block FROM messages_fts_data WHERE id = 10", -1, &q,
                                 nullptr),
              SQLITE_OK);
    std::vector<unsigned char> b;
    if (sqlite3_step(q) == SQLITE_ROW) {
      auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(q, 0));
      b.assign(p, p + sqlite3_column_bytes(q, 0));
    }
    sqlite3_finalize(q);
    sqlite3_close(raw);
    std::size_t at = 4;
    auto varint = [&] {
      std::uint64_t v = 0;
      while (at < b.size()) {
        auto c = b[at++];
        v = (v << 7) | (c & 0x7f);
        if ((c & 0x80) == 0) break;
      }
      return v;
    };
    if (b.size() < 5) return std::uint64_t{0};  // no segment written yet
    varint();                                   // nLevel
    varint();                                   // nSegment
    return varint();                            // nWriteCounter
  };
  for (int i = 0; i < 5; ++i) post(ann, c, "warm up " + std::to_string(i));
  index();
  auto before = write_counter();
  for (int i = 0; i < 90; ++i) post(bob, c, "batch word" + std::to_string(i) + " shared");
  index();  // one index_pending(100) takes all 90
  EXPECT_EQ(write_counter() - before, 1u);
  EXPECT_EQ(seqs(search(ann, {{"query", "shared"}})).size(), 20u);  // a full first page
  EXPECT_EQ(seqs(search(ann, {{"query", "word42"}})).size(), 1u);
}

}  // namespace
}  // namespace parley
