// Schema migrations of the SQLite backend on a database that holds data: what an older
// version stored survives, and the newest schema behaves as the store promises.
#include <gtest/gtest.h>

#include <future>

#include "store/message_rows.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_schema.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using test::scalar;

// Messages the search index finds for one term.
std::int64_t fts_hits(sqlite::db& d, const char* term) {
  return scalar(
      d, std::string("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '") + term + "'");
}

// A version-8 database: one group conversation with two messages, one of them still
// waiting for the search indexer (queued by the version-8 trigger).
void fill_version_8(sqlite::db& d) {
  d.exec(R"sql(
INSERT INTO users(id, handle, pw_hash, created_ms) VALUES (1, 'ann', 'x', 1);
INSERT INTO conversations(id, kind, title, last_seq, created_ms) VALUES (7, 'group', 't', 2, 1);
INSERT INTO members(conv_id, user_id, role, joined_seq) VALUES (7, 1, 'owner', 0);
INSERT INTO events(conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data) VALUES
  (7, 1, 'ev-one', 10, 'message.created', 1, 'c-1', '{"text":"first words"}'),
  (7, 2, 'ev-two', 11, 'message.created', 1, NULL, '{"text":"second words"}');
INSERT INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, ts_ms)
  VALUES (1, 'c-1', 7, 1, 'ev-one', 10);
INSERT INTO messages(id, conv_id, seq, sender_id, created_ms, text, indexed)
  VALUES (7 * 4294967296 + 1, 7, 1, 1, 10, 'first words', 0);
)sql");
}

TEST(SqliteMigrations, Version9KeepsTheLogAndDropsItsUnusedIndexAndForeignKey) {
  test::temp_db tmp;
  {
    sqlite::db d(tmp.path(), false);
    d.exec("PRAGMA foreign_keys = ON");
    sqlite::migrate(d, 8);
    fill_version_8(d);
    ASSERT_EQ(scalar(d, "SELECT count(*) FROM search_pending"), 1);  // the v8 trigger's
    // Version 8 refuses an event id twice and an event of a missing conversation.
    EXPECT_THROW(d.exec("INSERT INTO events VALUES (7, 3, 'ev-one', 12, 'x', 1, NULL, '{}')"),
                 std::exception);
    EXPECT_THROW(d.exec("INSERT INTO events VALUES (99, 1, 'ev-x', 12, 'x', 1, NULL, '{}')"),
                 std::exception);

    sqlite::migrate(d, 10);
    EXPECT_EQ(scalar(d, "PRAGMA user_version"), 10);
    // Version 10: every key of the older sends is in send_keys already.
    EXPECT_EQ(scalar(d, "SELECT keys_seq FROM conversations WHERE id = 7"), 2);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM events"), 2);
    auto& q = d.prepare("SELECT seq, id, client_msg_id, data FROM events ORDER BY seq");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.i64(0), 1);
    EXPECT_EQ(q.text(1), "ev-one");
    EXPECT_EQ(q.text(2), "c-1");
    EXPECT_EQ(q.text(3), R"({"text":"first words"})");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.text(1), "ev-two");
    q.reset();
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM pragma_foreign_key_list('events')"), 0);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM pragma_index_list('events') WHERE origin = 'u'"), 0);
    EXPECT_EQ(scalar(d,
                     "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = "
                     "'messages_search_queue'"),
              0);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM search_pending"), 1);  // still queued
    // The primary key still holds.
    EXPECT_THROW(d.exec("INSERT INTO events VALUES (7, 2, 'ev-y', 12, 'x', 1, NULL, '{}')"),
                 std::exception);
    // Version 11 rebuilds the search index from every message: the queued one is in it.
    sqlite::migrate(d, 11);
    EXPECT_EQ(scalar(d, "PRAGMA user_version"), 11);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM search_pending"), 0);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'first'"), 1);
  }

  // The store on the migrated file: appends continue the sequence, the idempotency key
  // of a version-8 send still holds, and new messages reach the search queue.
  sqlite::sqlite_options so;
  so.path = tmp.path();
  so.synchronous = "normal";
  sqlite::sqlite_store st(so);
  auto run = [&](std::function<error(write_txn&)> fn) {
    std::promise<error> p;
    auto f = p.get_future();
    st.write(std::move(fn), [&p](const error& e) { p.set_value(e); });
    return test::get_or_throw(f, "write");
  };
  seq_t appended = 0;
  auto e = run([&](write_txn& t) {
    event ev{7, 0, "ev-three", 12, "message.created", 1, "c-3", R"({"text":"third words"})"};
    t.append_event(ev);
    appended = ev.seq;
    message_state m;
    m.conv = 7;
    m.seq = ev.seq;
    m.sender = 1;
    m.created_ms = 12;
    m.text = "third words";
    t.insert_message(m);
    return error{errc::ok, {}, {}, 0};
  });
  ASSERT_EQ(e.code, errc::ok) << e.message;
  EXPECT_EQ(appended, 3);
  auto dup = run([&](write_txn& t) {
    event ev{7, 0, "ev-four", 13, "message.created", 1, "c-1", "{}"};
    t.append_event(ev);  // c-1 was sent under version 8: refused
    return error{errc::ok, {}, {}, 0};
  });
  EXPECT_NE(dup.code, errc::ok);
  std::size_t indexed = 0;
  ASSERT_EQ(run([&](write_txn& t) {
              indexed = t.index_pending(100);
              return error{errc::ok, {}, {}, 0};
            }).code,
            errc::ok);
  EXPECT_EQ(indexed, 1u);  // the new message (the version-8 one was indexed by version 11)
  std::promise<std::optional<event>> p;
  auto f = p.get_future();
  st.read([&p](read_txn& t) { p.set_value(t.find_event_by_client_msg_id(1, "c-3")); },
          [&p](const error&) { p.set_value(std::nullopt); });
  auto found = test::get_or_throw(f, "read");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "ev-three");
  st.stop();
}

// Version 11 rebuilds the search index from every message, without per-message sizes,
// and replaces the per-message `indexed` flag by search tickets: everything is indexed
// after it (a message queued, and one whose text an edit gave it while it was not
// queued), the delete markers a deleted message left are gone with the old segments,
// and the triggers keep indexed messages in step.
TEST(SqliteMigrations, Version11RebuildsTheSearchIndexAndCountsItInTickets) {
  test::temp_db tmp;
  sqlite::db d(tmp.path(), false);
  sqlite::migrate(d, 10);
  d.exec(R"sql(
INSERT INTO messages(id, conv_id, seq, sender_id, created_ms, text, indexed) VALUES
  (7 * 4294967296 + 1, 7, 1, 1, 10, 'alpha words', 0),
  (7 * 4294967296 + 2, 7, 2, 1, 11, 'bravo words', 0),
  (7 * 4294967296 + 3, 7, 3, 1, 12, 'charlie words', 0),
  (7 * 4294967296 + 4, 7, 4, 1, 13, '', 0);
INSERT INTO messages_fts(rowid, text) VALUES
  (7 * 4294967296 + 1, 'alpha words'), (7 * 4294967296 + 2, 'bravo words');
UPDATE messages SET indexed = 1 WHERE seq <= 2;
INSERT INTO search_pending(msg_id) VALUES (7 * 4294967296 + 3);
)sql");
  // Message 2 deleted after it was indexed: the trigger takes its terms out (as delete
  // markers, which stay in the segments until a merge purges them). Message 4 was sent
  // without text and given some by an edit: version 10 never indexed it.
  d.exec("UPDATE search_purge SET pending = 1 WHERE id = 1");
  d.exec("UPDATE messages SET text = '', deleted_ms = 13 WHERE seq = 2");
  d.exec("UPDATE messages SET text = 'echo words' WHERE seq = 4");
  ASSERT_EQ(scalar(d, "SELECT count(*) FROM messages_fts_docsize"), 1);
  auto hits = [&](const char* term) { return fts_hits(d, term); };
  ASSERT_EQ(hits("echo"), 0);

  sqlite::migrate(d, 11);
  EXPECT_EQ(scalar(d, "PRAGMA user_version"), 11);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts_docsize'"), 0);
  EXPECT_EQ(hits("alpha"), 1);
  EXPECT_EQ(hits("bravo"), 0);  // deleted
  EXPECT_EQ(hits("charlie"), 1);
  EXPECT_EQ(hits("echo"), 1);
  EXPECT_EQ(hits("words"), 3);
  EXPECT_EQ(scalar(d, "SELECT pending FROM search_purge WHERE id = 1"), 0);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM search_pending"), 0);
  EXPECT_EQ(scalar(d, "SELECT indexed_upto FROM search_state"), 1);
  auto& sn = d.prepare(
      "SELECT snippet(messages_fts, 0, '[', ']', '~', 8) FROM messages_fts "
      "WHERE messages_fts MATCH 'alpha'");
  ASSERT_TRUE(sn.step());
  EXPECT_EQ(sn.text(0), "[alpha] words");
  sn.reset();
  // The triggers keep the index in step with edits and deletes of indexed messages...
  d.exec("UPDATE messages SET text = 'delta words' WHERE seq = 1");
  EXPECT_EQ(hits("alpha"), 0);
  EXPECT_EQ(hits("delta"), 1);
  d.exec("DELETE FROM messages WHERE seq = 3");
  EXPECT_EQ(hits("charlie"), 0);
  // ...and leave alone a message whose ticket is above indexed_upto (still queued).
  d.exec(
      "INSERT INTO messages(id, conv_id, seq, sender_id, created_ms, text, search_ticket) "
      "VALUES (7 * 4294967296 + 5, 7, 5, 1, 14, 'foxtrot words', 2)");
  d.exec("UPDATE messages SET text = 'golf words' WHERE seq = 5");
  EXPECT_EQ(hits("foxtrot"), 0);
  EXPECT_EQ(hits("golf"), 0);
  EXPECT_EQ(hits("words"), 2);
}

// Version 12 moves each message's state into its event's row (one row per event) and
// drops the messages table: every event and every message field survives, events that
// are not messages have no message, the search index reads the rows (a message still
// queued by version 11 is in it after the rebuild, and nothing is queued twice), the
// idempotency keys of both kinds still refuse a second send, and the store goes on
// appending, indexing and editing on the new rows.
TEST(SqliteMigrations, Version12KeepsEveryEventAndMessageInOneRowEach) {
  test::temp_db tmp;
  const std::int64_t base = 7 * kMessageSeqSpan;
  {
    sqlite::db d(tmp.path(), false);
    sqlite::migrate(d, 11);
    d.exec(R"sql(
INSERT INTO users(id, handle, pw_hash, created_ms) VALUES (1, 'ann', 'x', 1);
INSERT INTO conversations(id, kind, title, last_seq, created_ms, keys_seq)
  VALUES (7, 'group', 't', 5, 1, 3);
INSERT INTO members(conv_id, user_id, role, joined_seq) VALUES (7, 1, 'owner', 0);
INSERT INTO events(conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data) VALUES
  (7, 1, 'ev-1', 10, 'member.joined', 1, NULL, '{}'),
  (7, 2, 'ev-2', 11, 'message.created', 1, 'c-2', '{"text":"alpha words"}'),
  (7, 3, 'ev-3', 12, 'message.created', 1, NULL, '{"text":"bravo words","thread":2}'),
  (7, 4, 'ev-4', 13, 'message.edited', 1, NULL, '{"seq":2}'),
  (7, 5, 'ev-5', 14, 'message.created', 1, 'c-5', '{"text":"charlie words"}');
INSERT INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, ts_ms)
  VALUES (1, 'c-2', 7, 2, 'ev-2', 11);
INSERT INTO messages(id, conv_id, seq, thread_root, sender_id, created_ms, text, reply_to,
  mentions, edited_ms, deleted_ms, reply_count, last_reply_ms, search_ticket) VALUES
  (7 * 4294967296 + 2, 7, 2, 0, 1, 11, 'alpha edited words', NULL, '', 13, NULL, 1, 12, 1),
  (7 * 4294967296 + 3, 7, 3, 2, 1, 12, 'bravo words', 2, '1', NULL, NULL, 0, NULL, 2),
  (7 * 4294967296 + 5, 7, 5, 0, 1, 14, 'charlie words', NULL, '', NULL, NULL, 0, NULL, 3);
INSERT INTO messages_fts(rowid, text) VALUES
  (7 * 4294967296 + 2, 'alpha edited words'), (7 * 4294967296 + 3, 'bravo words');
UPDATE search_state SET indexed_upto = 2 WHERE id = 1;
INSERT INTO search_pending(n, msg_id) VALUES (3, 7 * 4294967296 + 5);
)sql");
    sqlite::migrate(d);
    EXPECT_EQ(scalar(d, "PRAGMA user_version"), 12);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM sqlite_master WHERE name = 'messages'"), 0);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM events"), 5);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM events WHERE id = conv_id * 4294967296 + seq"), 5);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM events WHERE thread_root IS NULL"), 2);
    auto& q = d.prepare(
        "SELECT event_id, type, client_msg_id, data FROM events WHERE thread_root IS NULL "
        "ORDER BY id");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.text(0), "ev-1");
    EXPECT_EQ(q.text(1), "member.joined");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.text(0), "ev-4");
    EXPECT_EQ(q.text(3), R"({"seq":2})");
    EXPECT_FALSE(q.step());
    q.reset();
    auto hits = [&](const char* term) { return fts_hits(d, term); };
    EXPECT_EQ(hits("alpha"), 1);
    EXPECT_EQ(hits("edited"), 1);
    EXPECT_EQ(hits("charlie"), 1);  // queued by version 11, in the rebuilt index
    EXPECT_EQ(hits("words"), 3);
    EXPECT_EQ(scalar(d, "SELECT count(*) FROM search_pending"), 0);
    EXPECT_EQ(scalar(d, "SELECT indexed_upto FROM search_state"), 3);
  }

  sqlite::sqlite_options so;
  so.path = tmp.path();
  so.synchronous = "normal";
  auto st = std::make_unique<sqlite::sqlite_store>(so);
  auto run = [&](std::function<error(write_txn&)> fn) {
    std::promise<error> p;
    auto f = p.get_future();
    st->write(std::move(fn), [&p](const error& e) { p.set_value(e); });
    return test::get_or_throw(f, "write");
  };
  const error ok{errc::ok, {}, {}, 0};
  std::optional<message_state> root, reply, joined, edited_event;
  std::vector<seq_t> timeline, thread;
  std::vector<event> events;
  ASSERT_EQ(run([&](write_txn& t) {
              root = t.find_message(7, 2);
              reply = t.find_message(7, 3);
              joined = t.find_message(7, 1);
              edited_event = t.find_message(7, 4);
              for (const auto& m : t.list_messages(7, 0, 0, 100, 10, false))
                timeline.push_back(m.seq);
              for (const auto& m : t.list_messages(7, 2, 0, 100, 10, false))
                thread.push_back(m.seq);
              events = t.read_events(7, 1, 5, 10);
              return ok;
            }).code,
            errc::ok);
  ASSERT_TRUE(root && reply);
  EXPECT_EQ(root->text, "alpha edited words");
  EXPECT_EQ(root->created_ms, 11);
  EXPECT_EQ(root->edited_ms, 13);
  EXPECT_EQ(root->reply_count, 1);
  EXPECT_EQ(root->last_reply_ms, 12);
  EXPECT_FALSE(root->thread);
  EXPECT_EQ(reply->thread, 2);
  EXPECT_EQ(reply->reply_to, 2);
  EXPECT_EQ(reply->mentions, std::vector<user_id>{1});
  EXPECT_EQ(reply->sender, 1);
  EXPECT_FALSE(joined);
  EXPECT_FALSE(edited_event);
  EXPECT_EQ(timeline, (std::vector<seq_t>{2, 5}));
  EXPECT_EQ(thread, (std::vector<seq_t>{3}));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1].id, "ev-2");
  EXPECT_EQ(events[1].client_msg_id, "c-2");
  EXPECT_EQ(events[4].data, R"({"text":"charlie words"})");

  // Both kinds of key refuse a second send: c-2 is in send_keys, c-5 only in its event
  // (above keys_seq).
  for (const char* key : {"c-2", "c-5"}) {
    auto dup = run([&](write_txn& t) {
      event ev{7, 0, "ev-dup", 20, "message.created", 1, key, "{}"};
      t.append_event(ev);
      return ok;
    });
    EXPECT_NE(dup.code, errc::ok) << key;
  }
  // A new message: one row, queued and indexed; an edit of a migrated message goes
  // through the triggers.
  seq_t appended = 0;
  ASSERT_EQ(run([&](write_txn& t) {
              event ev{7, 0, "ev-6", 21, "message.created", 1, "c-6", R"({"text":"delta"})"};
              message_state m;
              m.conv = 7;
              m.sender = 1;
              m.text = "delta words";
              t.append_message(ev, m);
              appended = ev.seq;
              EXPECT_EQ(m.seq, ev.seq);
              EXPECT_EQ(m.created_ms, 21);
              return ok;
            }).code,
            errc::ok);
  EXPECT_EQ(appended, 6);
  std::size_t indexed = 0;
  ASSERT_EQ(run([&](write_txn& t) {
              indexed = t.index_pending(100);
              t.edit_message(7, 2, "echo words", 30, 7);
              return ok;
            }).code,
            errc::ok);
  EXPECT_EQ(indexed, 1u);
  st->stop();
  st.reset();
  sqlite::db d(tmp.path(), true);
  auto hits = [&](const char* term) { return fts_hits(d, term); };
  EXPECT_EQ(hits("delta"), 1);
  EXPECT_EQ(hits("echo"), 1);
  EXPECT_EQ(hits("alpha"), 0);
  EXPECT_EQ(hits("words"), 4);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM events WHERE id = " + std::to_string(base + 6) +
                          " AND text = 'delta words' AND event_id = 'ev-6'"),
            1);
}

// A row id holds the seq in its low 32 bits: the last seq a conversation can take is
// 2^32 - 1, and the append after it fails instead of writing into the next conversation's
// id range.
TEST(SqliteMigrations, Version12RefusesASeqBeyondTheConversationsIdRange) {
  test::temp_db tmp;
  {
    sqlite::db d(tmp.path(), false);
    sqlite::migrate(d);
    d.exec(
        "INSERT INTO conversations(id, kind, title, last_seq, keys_seq, created_ms) VALUES "
        "(7, 'group', 't', 4294967294, 4294967294, 1), (8, 'group', 'u', 0, 0, 1)");
  }
  sqlite::sqlite_options so;
  so.path = tmp.path();
  so.synchronous = "normal";
  sqlite::sqlite_store st(so);
  auto append = [&](conv_id c) {
    std::promise<error> p;
    auto f = p.get_future();
    st.write(
        [c](write_txn& t) {
          event ev{c, 0, "ev", 1, "message.created", 1, "", "{}"};
          t.append_event(ev);
          return error{errc::ok, {}, {}, 0};
        },
        [&p](const error& e) { p.set_value(e); });
    return test::get_or_throw(f, "write");
  };
  EXPECT_EQ(append(7).code, errc::ok);  // seq 2^32 - 1
  EXPECT_NE(append(7).code, errc::ok);
  EXPECT_EQ(append(8).code, errc::ok);
  std::promise<std::pair<std::vector<event>, std::vector<event>>> p;
  auto f = p.get_future();
  st.read(
      [&p](read_txn& t) {
        p.set_value({t.read_events(7, 0, kMessageSeqSpan * 2, 10),
                     t.read_events(8, 0, kMessageSeqSpan, 10)});
      },
      [&p](const error&) { p.set_value({}); });
  auto [seven, eight] = test::get_or_throw(f, "read");
  ASSERT_EQ(seven.size(), 1u);
  EXPECT_EQ(seven[0].seq, kMessageSeqSpan - 1);
  ASSERT_EQ(eight.size(), 1u);
  EXPECT_EQ(eight[0].seq, 1);
  st.stop();
}

}  // namespace
}  // namespace parley
