// The writer's buffer of idempotency keys (send_key_buffer) on a real database, against a
// model: after every commit, rollback and restart each key ever committed is found in the
// buffer or in send_keys with its values, no other key is, and what waits stays bounded.
#include "store/sqlite/send_key_buffer.hpp"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <random>

#include "store/message_rows.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_schema.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using key = std::pair<user_id, std::string>;

using test::scalar;

class SendKeyBuffer : public ::testing::Test {
 protected:
  SendKeyBuffer() : d_(std::make_unique<sqlite::db>(tmp_.path(), false)) {
    d_->exec("PRAGMA synchronous = OFF");
    sqlite::migrate(*d_);
    for (int c = 1; c <= 5; ++c)
      d_->exec("INSERT INTO conversations(id, kind, created_ms) VALUES (" + std::to_string(c) +
               ", 'group', 1)");
    buf_.load(*d_);
  }

  std::optional<send_key> in_table(const key& k) {
    auto& s = d_->prepare(
        "SELECT conv_id, seq, event_id, ts_ms FROM send_keys WHERE sender_id = ? AND "
        "client_msg_id = ?");
    s.bind(1, k.first).bind(2, k.second);
    std::optional<send_key> out;
    if (s.step()) out = send_key{s.i64(0), s.i64(1), s.text(2), s.i64(3)};
    s.reset();
    return out;
  }
  // Where the writer looks: the buffer, then send_keys.
  std::optional<send_key> find(const key& k) {
    if (auto b = buf_.find(*d_, k.first, k.second)) return b;
    return in_table(k);
  }
  // Appends the event carrying the key, as append_event does, and stages the key.
  void add(const key& k, const send_key& v) {
    ASSERT_FALSE(find(k)) << k.first << "/" << k.second;
    d_->prepare(
          "INSERT INTO events(id, conv_id, seq, event_id, ts_ms, type, sender_id, client_msg_id, "
          "data) VALUES (?,?,?,?,?,'message.created',?,?,'{}')")
        .bind(1, message_row_id(v.conv, v.seq))
        .bind(2, v.conv)
        .bind(3, v.seq)
        .bind(4, v.event_id)
        .bind(5, v.ts_ms)
        .bind(6, k.first)
        .bind(7, k.second)
        .run();
    buf_.add(k.first, k.second, v.conv, v.seq);
  }
  void commit() {
    buf_.before_commit(*d_);
    d_->exec("COMMIT");
    buf_.committed();
  }
  void rollback() {
    d_->exec("ROLLBACK");
    buf_.rolled_back(*d_);
  }
  // A restart: a new connection and a buffer loaded from the file.
  void restart() {
    d_.reset();
    d_ = std::make_unique<sqlite::db>(tmp_.path(), false);
    d_->exec("PRAGMA synchronous = OFF");
    buf_ = sqlite::send_key_buffer(3, 2);
    buf_.load(*d_);
  }
  std::int64_t keys_seq(conv_id c) {
    return scalar(*d_, "SELECT keys_seq FROM conversations WHERE id = " + std::to_string(c));
  }
  void expect_model(const std::map<key, send_key>& model, const std::vector<key>& never) {
    for (const auto& [k, v] : model) {
      auto f = find(k);
      ASSERT_TRUE(f) << k.first << "/" << k.second;
      // The filter never rules out a key that moved.
      if (in_table(k)) {
        EXPECT_TRUE(buf_.maybe_moved(k.first, k.second)) << k.first << "/" << k.second;
      }
      EXPECT_EQ(f->conv, v.conv);
      EXPECT_EQ(f->seq, v.seq);
      EXPECT_EQ(f->event_id, v.event_id);
      EXPECT_EQ(f->ts_ms, v.ts_ms);
    }
    for (const auto& k : never) EXPECT_FALSE(find(k)) << k.first << "/" << k.second;
  }

  test::temp_db tmp_;
  std::unique_ptr<sqlite::db> d_;
  sqlite::send_key_buffer buf_{3, 2};  // keep 3 waiting, move at least 2 per commit
};

send_key key_in(conv_id c, seq_t seq) {
  return send_key{c, seq, "ev-" + std::to_string(c) + "-" + std::to_string(seq), 1000 + seq};
}

TEST_F(SendKeyBuffer, KeysWaitThenMoveAConversationAtATime) {
  std::map<key, send_key> model;
  auto put = [&](key k, send_key v) {
    add(k, v);
    model[k] = v;
  };
  d_->exec("BEGIN IMMEDIATE");
  put({7, "b"}, key_in(1, 1));
  put({8, "a"}, key_in(2, 1));
  put({7, "a"}, key_in(1, 2));
  commit();  // three wait: nothing moves
  EXPECT_EQ(buf_.size(), 3u);
  EXPECT_EQ(scalar(*d_, "SELECT count(*) FROM send_keys"), 0);
  EXPECT_EQ(keys_seq(1), 0);

  d_->exec("BEGIN IMMEDIATE");
  put({9, "a"}, key_in(3, 1));
  commit();  // four wait: 4 - 3 + 2 = 3 move, whole conversations from the lowest id
  EXPECT_EQ(buf_.size(), 1u);
  EXPECT_TRUE(in_table({7, "a"}));
  EXPECT_TRUE(in_table({7, "b"}));
  EXPECT_TRUE(in_table({8, "a"}));
  EXPECT_FALSE(in_table({9, "a"}));
  EXPECT_EQ(keys_seq(1), 2);
  EXPECT_EQ(keys_seq(2), 1);
  EXPECT_EQ(keys_seq(3), 0);
  expect_model(model, {{7, "c"}, {9, "b"}});

  restart();  // the waiting key is found again in its event
  EXPECT_EQ(buf_.size(), 1u);
  expect_model(model, {});

  d_->exec("BEGIN IMMEDIATE");
  put({7, "c"}, key_in(1, 3));
  put({8, "b"}, key_in(2, 2));
  put({9, "b"}, key_in(3, 2));
  commit();
  EXPECT_EQ(buf_.size(), 0u);
  EXPECT_EQ(keys_seq(1), 3);
  EXPECT_EQ(keys_seq(3), 2);
  expect_model(model, {});

  // A conversation's keys move before its events go (pruning).
  d_->exec("BEGIN IMMEDIATE");
  put({7, "d"}, key_in(4, 1));
  commit();
  d_->exec("BEGIN IMMEDIATE");
  buf_.move_conversation(*d_, 4);
  d_->exec("DELETE FROM events WHERE conv_id = 4");
  commit();
  restart();
  EXPECT_EQ(buf_.size(), 0u);
  expect_model(model, {});
}

TEST_F(SendKeyBuffer, RollbacksForgetWhatTheyUndidAndKeepTheRest) {
  std::map<key, send_key> model;
  d_->exec("BEGIN IMMEDIATE");
  add({1, "a"}, key_in(1, 1));
  add({2, "b"}, key_in(1, 2));
  rollback();
  expect_model(model, {{1, "a"}, {2, "b"}});
  EXPECT_EQ(buf_.size(), 0u);

  // A rollback to a savepoint keeps the keys before it.
  d_->exec("BEGIN IMMEDIATE");
  add({1, "a"}, key_in(1, 1));
  d_->exec("SAVEPOINT job");
  add({2, "b"}, key_in(1, 2));
  d_->exec("ROLLBACK TO job");
  buf_.rolled_back(*d_);
  d_->exec("RELEASE job");
  EXPECT_TRUE(buf_.find(*d_, 1, "a"));
  EXPECT_FALSE(buf_.find(*d_, 2, "b"));
  add({2, "b"}, key_in(2, 1));  // the key is free again
  commit();
  model[{1, "a"}] = key_in(1, 1);
  model[{2, "b"}] = key_in(2, 1);
  expect_model(model, {});

  // A transaction that moved keys and rolled back leaves them waiting, not moved.
  d_->exec("BEGIN IMMEDIATE");
  add({3, "c"}, key_in(3, 1));
  add({4, "d"}, key_in(3, 2));
  buf_.before_commit(*d_);
  EXPECT_TRUE(in_table({1, "a"}));
  rollback();
  EXPECT_FALSE(in_table({1, "a"}));
  EXPECT_EQ(keys_seq(1), 0);
  EXPECT_EQ(buf_.size(), 2u);
  expect_model(model, {{3, "c"}, {4, "d"}});
  restart();
  expect_model(model, {{3, "c"}, {4, "d"}});
}

TEST_F(SendKeyBuffer, MatchesAModelThroughCommitsRollbacksAndRestarts) {
  std::map<key, send_key> model;
  std::vector<key> undone;
  std::map<conv_id, seq_t> last;  // committed
  int next = 0;
  std::mt19937 rng;
  for (int round = 0; round < 600; ++round) {
    if (round % 300 == 0) rng.seed(round == 0 ? 1 : 7);  // two runs the model went through
    d_->exec("BEGIN IMMEDIATE");
    auto seqs = last;
    auto append = [&] {
      key k{static_cast<user_id>(rng() % 7), "m" + std::to_string(next++)};
      conv_id c = static_cast<conv_id>(rng() % 5) + 1;
      auto v = key_in(c, ++seqs[c]);
      add(k, v);
      return std::pair{k, v};
    };
    std::map<key, send_key> staged;
    int adds = static_cast<int>(rng() % 5);
    for (int i = 0; i < adds; ++i) staged.insert(append());
    // A pruning job moves a conversation's keys in the middle of a transaction.
    if (rng() % 6 == 0) buf_.move_conversation(*d_, static_cast<conv_id>(rng() % 5) + 1);
    if (rng() % 4 == 0) {
      // A job after a savepoint that is rolled back.
      auto before = seqs;
      d_->exec("SAVEPOINT job");
      if (rng() % 2 == 0) buf_.move_conversation(*d_, static_cast<conv_id>(rng() % 5) + 1);
      undone.push_back(append().first);
      d_->exec("ROLLBACK TO job");
      buf_.rolled_back(*d_);
      d_->exec("RELEASE job");
      seqs = before;
    }
    if (rng() % 5 == 0) {
      rollback();
      for (auto& [k, v] : staged) undone.push_back(k);
    } else {
      commit();
      model.insert(staged.begin(), staged.end());
      last = seqs;
    }
    if (rng() % 50 == 0) restart();
    if (round % 4 == 0) expect_model(model, undone);  // every key, every fourth round
    ASSERT_EQ(
        scalar(*d_, "SELECT count(*) FROM send_keys") + static_cast<std::int64_t>(buf_.size()),
        static_cast<std::int64_t>(model.size()))
        << "round " << round;
    // What waits is bounded: at most keep + one transaction's keys.
    EXPECT_LE(buf_.size(), 3u + 5u);
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_GT(scalar(*d_, "SELECT count(*) FROM send_keys"), 200);
  // No key is in both places.
  EXPECT_EQ(scalar(*d_, "SELECT count(*) FROM send_keys") + static_cast<std::int64_t>(buf_.size()),
            static_cast<std::int64_t>(model.size()));
}

// Keys already in send_keys when the buffer starts (a restart): the filter answers only
// once its scan read them all, a chunk per commit, and then holds every one of them; a
// filter that took more keys than it was sized for is replaced by a larger one, filled
// the same way while it still answers.
TEST_F(SendKeyBuffer, TheFilterAnswersOnceItsScanReadEveryKeyAndGrowsWhenFull) {
  using sqlite::send_key_buffer;
  const std::size_t rows = send_key_buffer::kFirstFilterKeys + 1000;
  d_->exec("BEGIN");
  auto& ins = d_->prepare(
      "INSERT INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, ts_ms) "
      "VALUES (?, ?, 1, ?, 'e', 1)");
  for (std::size_t i = 0; i < rows; ++i) {
    const auto cmid = "old-" + std::to_string(i);  // bound by reference: lives until run()
    ins.bind(1, static_cast<std::int64_t>(1 + i % 97))
        .bind(2, cmid)
        .bind(3, static_cast<std::int64_t>(i + 1))
        .run();
    ins.reset();
  }
  d_->exec("COMMIT");
  buf_ = send_key_buffer(3, 2);
  buf_.load(*d_);
  auto empty_commit = [&] {
    d_->exec("BEGIN IMMEDIATE");
    commit();
  };
  auto fresh_hits = [&] {  // of keys that are nowhere, how many the filter lets through
    int hits = 0;
    for (int i = 0; i < 10000; ++i) hits += buf_.maybe_moved(5, "new-" + std::to_string(i));
    return hits;
  };
  const auto steps = (rows + send_key_buffer::kScanRows - 1) / send_key_buffer::kScanRows;
  for (std::size_t i = 0; i + 1 < steps; ++i) {
    empty_commit();
    ASSERT_EQ(buf_.filter_capacity(), 0u) << "after step " << i;
    EXPECT_TRUE(buf_.maybe_moved(5, "new-1"));  // nothing is ruled out yet
  }
  empty_commit();
  ASSERT_EQ(buf_.filter_capacity(), send_key_buffer::kFirstFilterKeys);
  for (std::size_t i = 0; i < rows; ++i)
    ASSERT_TRUE(buf_.maybe_moved(static_cast<user_id>(1 + i % 97), "old-" + std::to_string(i)))
        << i;
  // Past its size: still rules out most new keys.
  EXPECT_LT(fresh_hits(), 500);
  // A move finds it fuller than sized for: a larger one fills while this one answers.
  d_->exec("BEGIN IMMEDIATE");
  add({5, "moved-0"}, key_in(2, 1));
  buf_.move_conversation(*d_, 2);
  commit();
  EXPECT_TRUE(buf_.filter_filling());
  EXPECT_EQ(buf_.filter_capacity(), send_key_buffer::kFirstFilterKeys);
  EXPECT_TRUE(buf_.maybe_moved(5, "moved-0"));
  for (std::size_t i = 0; i < steps + 1 && buf_.filter_filling(); ++i) empty_commit();
  EXPECT_FALSE(buf_.filter_filling());
  ASSERT_EQ(buf_.filter_capacity(), 4 * send_key_buffer::kFirstFilterKeys);
  EXPECT_TRUE(buf_.maybe_moved(5, "moved-0"));
  for (std::size_t i = 0; i < rows; ++i)
    ASSERT_TRUE(buf_.maybe_moved(static_cast<user_id>(1 + i % 97), "old-" + std::to_string(i)))
        << i;
  EXPECT_LT(fresh_hits(), 100);
}

// The store with few keys kept waiting: sends of many senders, keys moved and waiting,
// found by the writer and by readers, and refused a second time, before and after a restart.
TEST(SendKeyBufferStore, KeysHoldAcrossMovesAndRestarts) {
  test::temp_db tmp;
  constexpr int kSends = 62;  // not a multiple of 5: the last keys still wait
  auto open = [&] {
    sqlite::sqlite_options so;
    so.path = tmp.path();
    so.synchronous = "normal";
    so.send_keys_waiting = 4;
    return std::make_unique<sqlite::sqlite_store>(so);
  };
  auto write = [](sqlite::sqlite_store& st, std::function<error(write_txn&)> fn) {
    std::promise<error> p;
    auto f = p.get_future();
    st.write(std::move(fn), [&p](const error& e) { p.set_value(e); });
    return test::get_or_throw(f, "write");
  };
  auto read_key = [](sqlite::sqlite_store& st, user_id u, const std::string& cmid) {
    std::promise<std::optional<send_key>> p;
    auto f = p.get_future();
    st.read([&](read_txn& t) { p.set_value(t.find_send_key(u, cmid)); },
            [&p](const error&) { p.set_value(std::nullopt); });
    return test::get_or_throw(f, "read");
  };
  auto st = open();
  conv_id c = 0;
  ASSERT_EQ(write(*st,
                  [&](write_txn& t) {
                    c = t.insert_conversation(conv_kind::group, "g", std::nullopt, 1);
                    return error{errc::ok, {}, {}, 0};
                  })
                .code,
            errc::ok);
  std::vector<event> sent;
  for (int i = 0; i < kSends; ++i) {
    // One send per commit, senders interleaved: every commit past 4 waiting moves keys.
    event ev{c,
             0,
             "ev-" + std::to_string(i),
             100 + i,
             "message.created",
             1 + i % 6,
             "cm-" + std::to_string(i),
             "{}"};
    ASSERT_EQ(write(*st,
                    [&](write_txn& t) {
                      if (t.find_send_key(ev.sender, ev.client_msg_id))
                        return make_error(errc::conflict, "seen");
                      t.append_event(ev);
                      return error{errc::ok, {}, {}, 0};
                    })
                  .code,
              errc::ok);
    sent.push_back(ev);
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& ev : sent) {
      auto k = read_key(*st, ev.sender, ev.client_msg_id);  // a reader's own lookup
      ASSERT_TRUE(k) << ev.client_msg_id;
      EXPECT_EQ(k->seq, ev.seq);
      EXPECT_EQ(k->event_id, ev.id);
      auto again = write(*st, [&](write_txn& t) {
        auto w = t.find_send_key(ev.sender, ev.client_msg_id);
        if (!w || w->seq != ev.seq) return make_error(errc::internal, "writer lost the key");
        event dup = ev;
        t.append_event(dup);  // the key is taken: throws
        return error{errc::ok, {}, {}, 0};
      });
      EXPECT_EQ(again.code, errc::internal) << ev.client_msg_id << " " << again.message;
      EXPECT_NE(again.message, "writer lost the key");
    }
    EXPECT_FALSE(read_key(*st, 1, "cm-1"));  // cm-1 was sent by sender 2
    st->stop();
    st.reset();
    {
      sqlite::db d(tmp.path(), true);
      auto moved = scalar(d, "SELECT count(*) FROM send_keys");
      auto waiting = scalar(d,
                            "SELECT count(*) FROM events e JOIN conversations c ON e.conv_id = "
                            "c.id AND e.seq > c.keys_seq");
      if (pass == 0) {
        EXPECT_GE(moved, kSends - 4);
        EXPECT_GE(waiting, 1);  // the newest keys wait in their events only
        EXPECT_LE(waiting, 4);
      } else {
        EXPECT_EQ(moved, kSends);  // the pruning moved every waiting key first
      }
    }
    st = open();
    if (pass == 0) {
      // Pruning every event leaves every key.
      ASSERT_EQ(write(*st,
                      [&](write_txn& t) {
                        t.prune_before(c, kSends + 1);
                        return error{errc::ok, {}, {}, 0};
                      })
                    .code,
                errc::ok);
    }
  }
}

}  // namespace
}  // namespace parley
