// PostgreSQL backend: what only it has to promise. Several nodes (here: several pg_store
// instances, each with its own connections) write one database at once, and seqs stay
// gapless, idempotency keys unique, the schema migrated once. Needs PARLEY_PG_URL (the
// CTest entry `pg`); skips without it. The search-syntax translation needs no server.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "core/crypto.hpp"
#include "pg_test_db.hpp"
#include "store/message_rows.hpp"
#include "store/pg/pg_schema.hpp"
#include "store/pg/pg_search_query.hpp"
#include "store/pg/pg_store.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

const error kOk{errc::ok, {}, {}, 0};

TEST(PgSearchQuery, QuotedTermsBecomeAQuotedTsqueryConjunction) {
  EXPECT_EQ(pg::to_tsquery_text("\"comet\""), "'comet'");
  EXPECT_EQ(pg::to_tsquery_text("\"comet\" \"two\"*"), "'comet' & 'two':*");
  EXPECT_EQ(pg::to_tsquery_text("\"it's\" \"a\"\"b\" \"c\\\\d\""),
            "'it''s' & 'a\"b' & 'c\\\\\\\\d'");
  EXPECT_EQ(pg::to_tsquery_text("  \"x\"  "), "'x'");
}

TEST(PgSearchQuery, AnythingElseIsMalformed) {
  for (const char* bad : {"", "   ", "bare", "\"a\" OR \"b\"", "\"open", "\"\"", "a OR (b)",
                          "\"a\"\"", "a-b", "\"a\"b", "NEAR(a b)", "a:*", "*"})
    EXPECT_THROW(pg::to_tsquery_text(bad), pg::bad_search_query) << bad;
}

class PgNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    if (test::pg_url().empty()) GTEST_SKIP() << test::kNoPgMessage;
    db_ = std::make_unique<test::temp_pg_db>();
  }
  void TearDown() override {
    for (auto& n : nodes_) n->stop();
    nodes_.clear();
    db_.reset();
  }

  // A store instance of its own: one node of a cluster sharing the database.
  store& add_node() {
    pg::pg_options o;
    o.conninfo = db_->conninfo();
    nodes_.push_back(std::make_unique<pg::pg_store>(o));
    return *nodes_.back();
  }

  static error write(store& st, std::function<error(write_txn&)> fn) {
    auto p = std::make_shared<std::promise<error>>();
    auto f = p->get_future();
    st.write(std::move(fn), [p](const error& e) { p->set_value(e); });
    return test::get_or_throw(f, "write");
  }

  template <class F>
  static auto read(store& st, F fn) -> std::invoke_result_t<F, read_txn&> {
    using R = std::invoke_result_t<F, read_txn&>;
    auto p = std::make_shared<std::promise<R>>();
    auto f = p->get_future();
    st.read([p, fn](read_txn& t) { p->set_value(fn(t)); },
            [p](const error& e) {
              p->set_exception(std::make_exception_ptr(std::runtime_error(e.message)));
            });
    return test::get_or_throw(f, "read");
  }

  static event make_event(conv_id c, user_id sender, std::string cmid) {
    event e;
    e.conv = c;
    e.id = random_hex_id();
    e.ts_ms = 1'700'000'000'000;
    e.type = "message.created";
    e.sender = sender;
    e.client_msg_id = std::move(cmid);
    e.data = "{}";
    return e;
  }

  // A user and a group conversation, written through `st`.
  std::pair<user_id, conv_id> user_and_group(store& st) {
    user_id u = 0;
    conv_id c = 0;
    EXPECT_EQ(write(st,
                    [&](write_txn& t) -> error {
                      auto r = t.insert_user("ann", "hash", 1);
                      if (!r) return r.err();
                      u = r->id;
                      c = t.insert_conversation(conv_kind::group, "g", std::nullopt, 1);
                      t.put_member(c, u, role::owner, 0);
                      return kOk;
                    })
                  .code,
              errc::ok);
    return {u, c};
  }

  std::unique_ptr<test::temp_pg_db> db_;
  std::vector<std::unique_ptr<pg::pg_store>> nodes_;
};

TEST_F(PgNodes, TwoNodesAppendingToOneConversationGetGaplessSeqs) {
  auto& a = add_node();
  auto& b = add_node();
  const auto [u_, c_] = user_and_group(a);
  const user_id u = u_;
  const conv_id c = c_;
  // Each node submits its writes without waiting, so both have transactions open on the
  // same conversation at once, in batches of several appends each.
  constexpr int kPerNode = 300;
  test::countdown left(2 * kPerNode);
  std::mutex mu;
  std::vector<seq_t> seqs;
  std::atomic<int> failures{0};
  auto submit = [&](store& st) {
    for (int i = 0; i < kPerNode; ++i) {
      auto got = std::make_shared<seq_t>(0);
      st.write(
          [c = c, u = u, got](write_txn& t) {
            auto ev = make_event(c, u, {});
            t.append_event(ev);
            *got = ev.seq;
            return kOk;
          },
          [&, got](const error& e) {
            if (e.code != errc::ok) {
              ++failures;
            } else {
              std::lock_guard lk(mu);
              seqs.push_back(*got);
            }
            left.hit();
          });
    }
  };
  std::thread ta([&] { submit(a); });
  std::thread tb([&] { submit(b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(left.wait());
  EXPECT_EQ(failures.load(), 0);
  std::sort(seqs.begin(), seqs.end());
  std::vector<seq_t> want;
  for (seq_t s = 1; s <= 2 * kPerNode; ++s) want.push_back(s);
  EXPECT_EQ(seqs, want);
  // What either node reads back: the same gapless log, and last_seq agrees.
  for (store* st : {&a, &b}) {
    auto evs = read(*st, [c = c](read_txn& t) { return t.read_events(c, 1, 1'000'000, 100'000); });
    ASSERT_EQ(evs.size(), want.size());
    for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(evs[i].seq, want[i]);
    EXPECT_EQ(read(*st, [c = c](read_txn& t) { return t.find_conversation(c)->last_seq; }),
              2 * kPerNode);
  }
}

TEST_F(PgNodes, WritesThatDeadlockAcrossNodesAreRetriedUntilTheyCommit) {
  auto& a = add_node();
  auto& b = add_node();
  const auto [u_, c1_] = user_and_group(a);
  const user_id u = u_;
  const conv_id c1 = c1_;
  conv_id c2 = 0;
  ASSERT_EQ(write(a,
                  [&](write_txn& t) -> error {
                    c2 = t.insert_conversation(conv_kind::group, "h", std::nullopt, 1);
                    t.put_member(c2, u, role::owner, 0);
                    return kOk;
                  })
                .code,
            errc::ok);
  // Each job appends to both conversations, pausing in between: a's jobs lock c1 then c2,
  // b's c2 then c1. Submitted one at a time, so each batch holds one job and the two
  // streams keep overlapping: they deadlock again and again, reruns included.
  constexpr int kPerNode = 15;
  test::countdown left(2 * kPerNode);
  std::atomic<int> failures{0};
  auto submit = [&](store& st, conv_id first, conv_id second) {
    for (int i = 0; i < kPerNode; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(25)))
      st.write(
          [=](write_txn& t) {
            auto e1 = make_event(first, u, {});
            t.append_event(e1);
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            auto e2 = make_event(second, u, {});
            t.append_event(e2);
            return kOk;
          },
          [&](const error& e) {
            if (e.code != errc::ok) ++failures;
            left.hit();
          });
  };
  std::thread ta([&] { submit(a, c1, c2); });
  std::thread tb([&] { submit(b, c2, c1); });
  ta.join();
  tb.join();
  ASSERT_TRUE(left.wait());
  EXPECT_EQ(failures.load(), 0);
  for (conv_id c : {c1, c2}) {
    auto evs = read(a, [c](read_txn& t) { return t.read_events(c, 1, 1'000'000, 1000); });
    ASSERT_EQ(evs.size(), static_cast<std::size_t>(2 * kPerNode)) << "conversation " << c;
    for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(evs[i].seq, static_cast<seq_t>(i + 1));
  }
}

TEST_F(PgNodes, TheSameClientMsgIdSentThroughTwoNodesAtOnceMakesOneEvent) {
  auto& a = add_node();
  auto& b = add_node();
  const auto [u_, c_] = user_and_group(a);
  const user_id u = u_;
  const conv_id c = c_;
  // The service's send: look the key up, append only when it is new (a duplicate answers
  // with the original). Both nodes race on the same keys; each key must end up as exactly
  // one event, and both nodes must report that event.
  constexpr int kKeys = 50;
  struct outcome {
    seq_t seq = 0;
    bool duplicate = false;
  };
  std::vector<outcome> from_a(kKeys), from_b(kKeys);
  test::countdown left(2 * kKeys);
  std::atomic<int> failures{0};
  auto send = [&](store& st, std::vector<outcome>& out, int k) {
    auto o = &out[static_cast<std::size_t>(k)];
    st.write(
        [c = c, u = u, o, k](write_txn& t) {
          *o = {};  // the write may run more than once
          auto cmid = "key-" + std::to_string(k);
          if (auto prev = t.find_send_key(u, cmid)) {
            *o = {prev->seq, true};
            return kOk;
          }
          auto ev = make_event(c, u, cmid);
          t.append_event(ev);
          *o = {ev.seq, false};
          return kOk;
        },
        [&](const error& e) {
          if (e.code != errc::ok) ++failures;
          left.hit();
        });
  };
  std::thread ta([&] {
    for (int k = 0; k < kKeys; ++k) send(a, from_a, k);
  });
  std::thread tb([&] {
    for (int k = 0; k < kKeys; ++k) send(b, from_b, k);
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(left.wait());
  EXPECT_EQ(failures.load(), 0);
  auto evs = read(a, [c = c](read_txn& t) { return t.read_events(c, 1, 1'000'000, 100'000); });
  ASSERT_EQ(evs.size(), static_cast<std::size_t>(kKeys));  // one event per key
  std::set<std::string> keys;
  for (const auto& e : evs) keys.insert(e.client_msg_id);
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kKeys));
  for (int k = 0; k < kKeys; ++k) {
    auto i = static_cast<std::size_t>(k);
    EXPECT_EQ(from_a[i].seq, from_b[i].seq) << "key " << k;  // both answer the same event
    EXPECT_NE(from_a[i].duplicate, from_b[i].duplicate) << "key " << k;  // one appended it
    auto key =
        read(b, [u = u, k](read_txn& t) { return t.find_send_key(u, "key-" + std::to_string(k)); });
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->seq, from_a[i].seq);
  }
}

TEST_F(PgNodes, WhenBothNodesFoundNoKeyTheUniqueIndexDecidesAndTheLoserAnswersTheWinner) {
  auto& a = add_node();
  auto& b = add_node();
  const auto [u_, c_] = user_and_group(a);
  const user_id u = u_;
  const conv_id c = c_;
  // Both nodes look the key up before either appends (each job's first run waits for the
  // other's lookup), so both append: the second append waits for the first transaction,
  // then hits the unique index, and its node must answer with the first node's event.
  std::atomic<int> looked{0};
  struct outcome {
    seq_t seq = 0;
    bool duplicate = false;
    int runs = 0;
  };
  outcome from_a, from_b;
  test::countdown left(2);
  std::atomic<int> failures{0};
  auto send = [&](store& st, outcome& out) {
    st.write(
        [&, c = c, u = u](write_txn& t) {
          int run = ++out.runs;
          out.seq = 0;
          out.duplicate = false;
          if (auto prev = t.find_send_key(u, "raced")) {
            out = {prev->seq, true, run};
            return kOk;
          }
          if (run == 1) {
            ++looked;
            for (int i = 0; i < 10'000 && looked.load() < 2; ++i)
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          auto ev = make_event(c, u, "raced");
          t.append_event(ev);
          out.seq = ev.seq;
          return kOk;
        },
        [&](const error& e) {
          if (e.code != errc::ok) ++failures;
          left.hit();
        });
  };
  send(a, from_a);
  send(b, from_b);
  ASSERT_TRUE(left.wait());
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(looked.load(), 2);  // both first runs found no key
  EXPECT_NE(from_a.duplicate, from_b.duplicate);
  EXPECT_EQ(from_a.seq, from_b.seq);
  // The loser ran again (its batch rolled back and reran after the unique violation).
  EXPECT_EQ((from_a.duplicate ? from_a : from_b).runs, 2);
  auto evs = read(a, [c = c](read_txn& t) { return t.read_events(c, 1, 1'000'000, 100); });
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].client_msg_id, "raced");
  EXPECT_EQ(evs[0].seq, from_a.seq);
}

TEST_F(PgNodes, NodesStartingAtOnceMigrateTheSchemaOnce) {
  // Four nodes open the same empty database at the same time.
  std::vector<std::future<std::unique_ptr<pg::pg_store>>> opening;
  for (int i = 0; i < 4; ++i)
    opening.push_back(std::async(std::launch::async, [this] {
      pg::pg_options o;
      o.conninfo = db_->conninfo();
      return std::make_unique<pg::pg_store>(o);
    }));
  for (auto& f : opening) nodes_.push_back(f.get());  // none threw
  pg::conn c(db_->conninfo());
  auto v = c.query("SELECT version FROM parley_schema");
  ASSERT_EQ(v.size(), 1);
  EXPECT_EQ(v.i64(0, 0), pg::schema_version());
  // And the schema works from every node.
  auto [u, conv] = user_and_group(*nodes_[1]);
  EXPECT_EQ(read(*nodes_[3], [u = u](read_txn& t) { return t.find_user(u)->handle; }), "ann");
  (void)conv;
}

TEST_F(PgNodes, ANewerSchemaThanTheBuildIsRefused) {
  add_node();
  {
    pg::conn c(db_->conninfo());
    c.exec("UPDATE parley_schema SET version = version + 1");
  }
  pg::pg_options o;
  o.conninfo = db_->conninfo();
  EXPECT_THROW(pg::pg_store{o}, std::runtime_error);
}

// Migration 2 on a version-1 database: a message sent without text and later edited to
// have some (not indexed, not queued: the bug it fixes) is queued; one without text that
// is not queued counts as indexed, so that an edit indexes it at once; the others (indexed,
// queued with or without text) are left as they were.
TEST_F(PgNodes, Migration2QueuesTextlessMessagesEditedSinceAndMarksTextlessOnesIndexed) {
  constexpr conv_id kConv = 1;
  {
    pg::conn c(db_->conninfo());
    pg::migrate(c, 1);
    c.exec(
        "INSERT INTO users(id, handle, pw_hash, created_ms) VALUES (1, 'ann', 'h', 1);"
        "INSERT INTO conversations(id, kind, title, last_seq, created_ms) "
        "VALUES (1, 'group', 'g', 5, 1);"
        "INSERT INTO members(conv_id, user_id, role, joined_seq) VALUES (1, 1, 'owner', 0);");
    // seq 1 indexed; 2 queued; 3 sent without text; 4 sent without text, edited since;
    // 5 sent without text and still queued.
    struct row {
      seq_t seq;
      const char* text;
      bool indexed;
    };
    for (const row& r : {row{1, "hello indexed", true}, row{2, "queued words", false},
                         row{3, "", false}, row{4, "edited later", false}, row{5, "", false}})
      c.query(
          "INSERT INTO messages(id, conv_id, seq, sender_id, created_ms, text, indexed, tsv) "
          "VALUES ($1, $2, $3, 1, 10 + $3::BIGINT, $4, $5::BIGINT = 1, "
          "CASE WHEN $5::BIGINT = 1 THEN to_tsvector('simple', $4::TEXT) END)",
          {pg::p(message_row_id(kConv, r.seq)), pg::p(kConv), pg::p(r.seq), pg::p(r.text),
           pg::p(std::int64_t{r.indexed ? 1 : 0})});
    for (seq_t q : {2, 5})
      c.query("INSERT INTO search_pending(msg_id) VALUES ($1)", {pg::p(message_row_id(kConv, q))});
  }
  auto& st = add_node();  // migrates to the current version
  {
    pg::conn c(db_->conninfo());
    EXPECT_EQ(c.query("SELECT version FROM parley_schema").i64(0, 0), pg::schema_version());
    auto pending = c.query("SELECT msg_id FROM search_pending ORDER BY n");
    std::vector<std::int64_t> queued;
    for (int i = 0; i < pending.size(); ++i) queued.push_back(pending.i64(i, 0));
    EXPECT_EQ(queued, (std::vector<std::int64_t>{message_row_id(kConv, 2), message_row_id(kConv, 5),
                                                 message_row_id(kConv, 4)}));
    auto flags = c.query("SELECT indexed FROM messages ORDER BY seq");
    std::vector<bool> indexed;
    for (int i = 0; i < flags.size(); ++i) indexed.push_back(flags.boolean(i, 0));
    EXPECT_EQ(indexed, (std::vector<bool>{true, false, true, false, false}));
  }
  auto find = [&](const std::string& word) {
    search_query q;
    q.match = "\"" + word + "\"";
    std::vector<seq_t> out;
    for (const auto& h : read(st, [q](read_txn& t) { return t.search_messages(1, q); }))
      out.push_back(h.seq);
    return out;
  };
  ASSERT_EQ(write(st,
                  [](write_txn& t) {
                    t.edit_message(kConv, 3, "finally text", 100, 1);  // indexed at once
                    return kOk;
                  })
                .code,
            errc::ok);
  EXPECT_EQ(find("finally"), std::vector<seq_t>{3});
  ASSERT_EQ(write(st,
                  [](write_txn& t) {
                    while (t.index_pending(10) > 0) {
                    }
                    return kOk;
                  })
                .code,
            errc::ok);
  EXPECT_EQ(find("hello"), std::vector<seq_t>{1});
  EXPECT_EQ(find("queued"), std::vector<seq_t>{2});
  EXPECT_EQ(find("later"), std::vector<seq_t>{4});
}

TEST_F(PgNodes, AWrongConnectionStringFailsWithoutRepeatingIt) {
  pg::pg_options o;
  o.conninfo = "postgresql://nobody:s3cret-pw@127.0.0.1:1/nowhere";
  try {
    pg::pg_store st(o);
    FAIL() << "connected to nowhere";
  } catch (const std::exception& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to PostgreSQL"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret-pw"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace parley
