// Conformance suite for parley::store backends (the contract is in store/store.hpp).
// Written against the abstract store / read_txn / write_txn interface only: every backend
// (SQLite, PostgreSQL) is added to the INSTANTIATE_TEST_SUITE_P list at the bottom with a
// factory that creates, opens and destroys its storage. The PostgreSQL instantiation
// needs a server (PARLEY_PG_URL, set by the CTest entry `pg`) and skips without one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "core/crypto.hpp"
#include "pg_test_db.hpp"
#include "store/cached_store.hpp"
#include "store/pg/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using test::countdown;
using test::get_or_throw;

// How the suite creates, (re)opens and discards one backend's storage.
struct store_backend {
  std::string name;
  // Reserves fresh, empty storage; returns its location (a file path, a database URL...).
  std::function<std::string()> create;
  // Opens a store over the location. Called again after stop() to check durability.
  std::function<std::unique_ptr<store>(const std::string& location)> open;
  // Removes the storage once the test is over.
  std::function<void(const std::string& location)> destroy;
  // Why the backend cannot be tested here ("" when it can): its tests skip with it.
  std::function<std::string()> unavailable = [] { return std::string(); };
};

void PrintTo(const store_backend& b, std::ostream* os) {
  *os << b.name;
}

// synchronous "normal": acknowledged at COMMIT (durability across a clean stop() needs no
// fsync); "full": acknowledged after the background flush of the WAL, and reads wait for it.
store_backend sqlite_backend(std::string synchronous = "normal") {
  // The temp_db objects live for the whole test binary's run; destroy() removes the files.
  auto dbs = std::make_shared<std::vector<std::unique_ptr<test::temp_db>>>();
  return {synchronous == "full" ? "SQLiteFull" : "SQLite",
          [dbs] {
            dbs->push_back(std::make_unique<test::temp_db>());
            return dbs->back()->path();
          },
          [synchronous](const std::string& path) -> std::unique_ptr<store> {
            sqlite::sqlite_options o;
            o.path = path;
            o.synchronous = synchronous;
            return std::make_unique<sqlite::sqlite_store>(o);
          },
          [dbs](const std::string& path) {
            for (auto& d : *dbs)
              if (d->path() == path) d->remove();
          }};
}

// The SQLite store behind the recent-events cache (a small one, so that reads are served
// from it and from the database alike, and eviction happens).
class cached_sqlite final : public store {
 public:
  explicit cached_sqlite(std::unique_ptr<store> inner)
      : inner_(std::move(inner)), cached_(*inner_, event_cache::options{8, 4096}) {}
  void write(write_fn fn, write_done done) override {
    cached_.write(std::move(fn), std::move(done));
  }
  void read(read_fn fn, std::function<void(const error&)> on_error) override {
    cached_.read(std::move(fn), std::move(on_error));
  }
  void stop() override { cached_.stop(); }

 private:
  std::unique_ptr<store> inner_;
  cached_store cached_;
};

store_backend cached_sqlite_backend() {
  auto b = sqlite_backend();
  b.name = "CachedSQLite";
  auto open = b.open;
  b.open = [open](const std::string& path) -> std::unique_ptr<store> {
    return std::make_unique<cached_sqlite>(open(path));
  };
  return b;
}

store_backend pg_backend() {
  auto dbs = std::make_shared<std::vector<std::unique_ptr<test::temp_pg_db>>>();
  store_backend b{"PostgreSQL",
                  [dbs] {
                    dbs->push_back(std::make_unique<test::temp_pg_db>());
                    return dbs->back()->conninfo();
                  },
                  [](const std::string& conninfo) -> std::unique_ptr<store> {
                    pg::pg_options o;
                    o.conninfo = conninfo;
                    return std::make_unique<pg::pg_store>(o);
                  },
                  [dbs](const std::string& conninfo) {
                    for (auto& d : *dbs)
                      if (d->conninfo() == conninfo) d->remove();
                  }};
  b.unavailable = [] { return test::pg_url().empty() ? std::string(test::kNoPgMessage) : ""; };
  return b;
}

const error kOk{errc::ok, {}, {}, 0};  // not constexpr: clang 14 with libstdc++ 12

// A new event for append_event (seq is assigned by the store).
event make_event(conv_id c, user_id sender, std::string cmid = {}, std::string text = "hi") {
  static std::atomic<std::int64_t> ts{1'700'000'000'000};
  event e;
  e.conv = c;
  e.id = random_hex_id();
  e.ts_ms = ts++;
  e.type = "message.created";
  e.sender = sender;
  e.client_msg_id = std::move(cmid);
  e.data = "{\"text\":\"" + text + "\"}";
  return e;
}

std::vector<seq_t> seqs_of(const std::vector<event>& evs) {
  std::vector<seq_t> out;
  for (const auto& e : evs) out.push_back(e.seq);
  return out;
}

std::vector<seq_t> range(seq_t from, seq_t to) {  // inclusive; empty if from > to
  std::vector<seq_t> out;
  for (seq_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

void expect_same_event(const event& got, const event& want) {
  EXPECT_EQ(got.conv, want.conv);
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.ts_ms, want.ts_ms);
  EXPECT_EQ(got.type, want.type);
  EXPECT_EQ(got.sender, want.sender);
  EXPECT_EQ(got.client_msg_id, want.client_msg_id);
  EXPECT_EQ(got.data, want.data);
}

class StoreConformance : public ::testing::TestWithParam<store_backend> {
 protected:
  void SetUp() override {
    init_crypto();
    if (auto why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
    location_ = GetParam().create();
    st_ = GetParam().open(location_);
  }
  void TearDown() override {
    if (st_) st_->stop();
    st_.reset();
    if (!location_.empty()) GetParam().destroy(location_);
  }

  store& st() { return *st_; }

  // Stops the store and opens a new one over the same storage.
  void reopen() {
    st_->stop();
    st_.reset();
    st_ = GetParam().open(location_);
  }

  // Runs fn in a write and waits for its completion.
  error write(std::function<error(write_txn&)> fn) {
    auto p = std::make_shared<std::promise<error>>();
    auto f = p->get_future();
    st_->write(std::move(fn), [p](const error& e) { p->set_value(e); });
    return get_or_throw(f, "write");
  }

  // Runs fn in a read and returns its value; a failed read throws (failing the test).
  template <class F>
  auto read(F fn) -> std::invoke_result_t<F, read_txn&> {
    using R = std::invoke_result_t<F, read_txn&>;
    auto p = std::make_shared<std::promise<R>>();
    auto f = p->get_future();
    st_->read([p, fn](read_txn& t) { p->set_value(fn(t)); },
              [p](const error& e) {
                p->set_exception(
                    std::make_exception_ptr(std::runtime_error("read failed: " + e.message)));
              });
    return get_or_throw(f, "read");
  }

  user add_user(const std::string& handle) {
    user u;
    EXPECT_EQ(write([&](write_txn& t) -> error {
                auto r = t.insert_user(handle, "hash-of-" + handle, 1000);
                if (!r) return r.err();
                u = *r;
                return kOk;
              }).code,
              errc::ok);
    return u;
  }

  conv_id add_group(const std::string& title = "team") {
    conv_id c = 0;
    EXPECT_EQ(write([&](write_txn& t) {
                c = t.insert_conversation(conv_kind::group, title, std::nullopt, 2000);
                return kOk;
              }).code,
              errc::ok);
    return c;
  }

  // Seqs of u's messages that search finds for one word (a quoted term).
  std::vector<seq_t> found(user_id u, const std::string& word) {
    search_query q;
    q.match = "\"" + word + "\"";
    std::vector<seq_t> out;
    for (const auto& h : read([&](read_txn& t) { return t.search_messages(u, q); }))
      out.push_back(h.seq);
    return out;
  }

  // A write of its own that moves queued messages into the search index: one round of at
  // most `limit`, or rounds of `limit` until none is left (`all`). Returns how many.
  std::size_t index_write(std::size_t limit, bool all = false) {
    std::size_t n = 0;
    EXPECT_EQ(write([&](write_txn& t) {
                n = 0;  // a write may run more than once
                while (auto k = t.index_pending(limit)) {
                  n += k;
                  if (!all) break;
                }
                return kOk;
              }).code,
              errc::ok);
    return n;
  }

  // Appends `n` events to c in one write; returns them with their seqs.
  std::vector<event> append(conv_id c, user_id sender, int n) {
    std::vector<event> out;
    EXPECT_EQ(write([&](write_txn& t) {
                out.clear();
                for (int i = 0; i < n; ++i) {
                  auto e = make_event(c, sender);
                  t.append_event(e);
                  out.push_back(e);
                }
                return kOk;
              }).code,
              errc::ok);
    return out;
  }

  std::vector<event> all_events(conv_id c) {
    return read([c](read_txn& t) { return t.read_events(c, 0, 1'000'000, 1'000'000); });
  }

  // Blocks the writer until the returned function is called, so that every write
  // submitted meanwhile is queued and goes into the same group commit.
  std::function<void()> hold_writer() {
    auto gate = std::make_shared<std::promise<void>>();
    auto entered = std::make_shared<std::promise<void>>();
    auto entered_f = entered->get_future();
    std::shared_future<void> gate_f = gate->get_future().share();
    st_->write(
        [gate_f, entered](write_txn&) {
          entered->set_value();
          gate_f.wait_for(test::kWaitLimit);
          return kOk;
        },
        [](const error&) {});
    get_or_throw(entered_f, "the writer to start the holding write");
    return [gate] { gate->set_value(); };
  }

  // Submits fn(t, i) for i in [0, n) as n writes while the writer is held, so that they
  // go into one group commit; returns each write's result. The writes may still refer to
  // the caller's variables after a timeout, so a timeout aborts the test binary.
  std::vector<error> write_batch(int n, std::function<error(write_txn&, int)> fn) {
    struct state {
      explicit state(int n, std::function<error(write_txn&, int)> f)
          : fn(std::move(f)), results(n), left(n) {}
      std::function<error(write_txn&, int)> fn;
      std::vector<error> results;
      countdown left;
    };
    auto st = std::make_shared<state>(n, std::move(fn));
    auto release = hold_writer();
    for (int i = 0; i < n; ++i)
      st_->write([st, i](write_txn& t) { return st->fn(t, i); },
                 [st, i](const error& e) {
                   st->results[i] = e;
                   st->left.hit();
                 });
    release();
    if (!st->left.wait()) {
      std::fprintf(stderr, "write_batch: %zu of %d writes still unanswered after %lld s\n",
                   st->left.remaining(), n, static_cast<long long>(test::kWaitLimit.count()));
      std::abort();
    }
    return st->results;
  }

  std::string location_;
  std::unique_ptr<store> st_;
};

TEST_P(StoreConformance, UsersAreInsertedAndLookedUp) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  EXPECT_GT(ann.id, 0);
  EXPECT_NE(ann.id, bob.id);
  EXPECT_EQ(ann.handle, "ann");
  EXPECT_EQ(bob.handle, "bob");

  auto cred = read([](read_txn& t) { return t.find_user_by_handle("ann"); });
  ASSERT_TRUE(cred);
  EXPECT_EQ(cred->u.id, ann.id);
  EXPECT_EQ(cred->u.handle, "ann");
  EXPECT_EQ(cred->password_hash, "hash-of-ann");

  auto u = read([&](read_txn& t) { return t.find_user(bob.id); });
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, bob.id);
  EXPECT_EQ(u->handle, "bob");

  EXPECT_FALSE(read([](read_txn& t) { return t.find_user_by_handle("nobody"); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_user(bob.id + ann.id + 1000); }));
}

TEST_P(StoreConformance, DuplicateHandleIsAConflictAndLeavesTheTransactionUsable) {
  auto ann = add_user("ann");
  // Returned as the write's error: the conflict reaches the caller.
  auto e = write([](write_txn& t) -> error {
    auto r = t.insert_user("ann", "other-hash", 5);
    return r ? kOk : r.err();
  });
  EXPECT_EQ(e.code, errc::conflict);

  // Ignored by the write: the same transaction goes on and commits other work.
  bool saw_conflict = false;
  user cat;
  e = write([&](write_txn& t) -> error {
    auto r = t.insert_user("ann", "other-hash", 5);
    saw_conflict = !r && r.err().code == errc::conflict;
    auto c = t.insert_user("cat", "hash-of-cat", 6);
    if (!c) return c.err();
    cat = *c;
    return kOk;
  });
  EXPECT_EQ(e.code, errc::ok);
  EXPECT_TRUE(saw_conflict);
  EXPECT_NE(cat.id, ann.id);

  auto cred = read([](read_txn& t) { return t.find_user_by_handle("ann"); });
  ASSERT_TRUE(cred);
  EXPECT_EQ(cred->u.id, ann.id);
  EXPECT_EQ(cred->password_hash, "hash-of-ann");  // the original row is untouched
  EXPECT_TRUE(read([](read_txn& t) { return t.find_user_by_handle("cat"); }));
}

TEST_P(StoreConformance, DevicesAreFoundByTheirBinaryTokenHash) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  const std::string h1 = token_hash("pt_first");
  // Binary hashes may hold NUL and high bytes; they are compared as bytes.
  const std::string h2 = std::string("\0\x01\xff\x80", 4) + std::string(28, 'x');
  const std::string h2_other = std::string("\0\x01\xff\x81", 4) + std::string(28, 'x');
  ASSERT_EQ(h1.size(), 32u);
  device_id d1 = 0, d2 = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              d1 = t.insert_device(ann.id, h1, 10, 5000);
              d2 = t.insert_device(bob.id, h2, 11, 6000);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_NE(d1, d2);

  auto s1 = read([&](read_txn& t) { return t.find_device_by_token_hash(h1); });
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->device, d1);
  EXPECT_EQ(s1->u.id, ann.id);
  EXPECT_EQ(s1->u.handle, "ann");
  EXPECT_EQ(s1->expires_ms, 5000);

  auto s2 = read([&](read_txn& t) { return t.find_device_by_token_hash(h2); });
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->device, d2);
  EXPECT_EQ(s2->u.id, bob.id);
  EXPECT_EQ(s2->expires_ms, 6000);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(h2_other); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(h2.substr(0, 1)); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("x")); }));

  bool first = false, second = true;
  ASSERT_EQ(write([&](write_txn& t) {
              first = t.delete_device(d1);
              second = t.delete_device(d1);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(h1); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.find_device_by_token_hash(h2); }));
}

TEST_P(StoreConformance, TokensAreReplacedAndDevicesRevokedWithAPasswordChange) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  device_id a1 = 0, a2 = 0, a3 = 0, b1 = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              a1 = t.insert_device(ann.id, token_hash("a1"), 1, 100);
              a2 = t.insert_device(ann.id, token_hash("a2"), 2, 100);
              a3 = t.insert_device(ann.id, token_hash("a3"), 3, 100);
              b1 = t.insert_device(bob.id, token_hash("b1"), 4, 100);
              return kOk;
            }).code,
            errc::ok);
  bool replaced = false, replaced_gone = true;
  std::vector<device_id> revoked;
  ASSERT_EQ(write([&](write_txn& t) {
              replaced = t.replace_token(a1, token_hash("a1-new"), 900);
              t.set_password(ann.id, "new-hash");
              revoked = t.delete_devices_of(ann.id, a1);
              replaced_gone = t.replace_token(a2, token_hash("a2-new"), 900);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(replaced);
  EXPECT_FALSE(replaced_gone) << "a revoked device gets no new token";
  EXPECT_EQ(revoked, (std::vector<device_id>{a2, a3}));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("a1")); }));
  auto fresh = read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("a1-new")); });
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->device, a1);
  EXPECT_EQ(fresh->expires_ms, 900);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("a2")); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("a3")); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.find_device_by_token_hash(token_hash("b1")); }))
      << "another user's devices stay";
  auto cred = read([&](read_txn& t) { return t.find_user_by_handle("ann"); });
  ASSERT_TRUE(cred);
  EXPECT_EQ(cred->password_hash, "new-hash");
  (void)b1;
}

TEST_P(StoreConformance, ConversationsAreStoredWithTheirAttributes) {
  conv_id g = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              g = t.insert_conversation(conv_kind::group, "team", std::nullopt, 777);
              return kOk;
            }).code,
            errc::ok);
  auto c = read([&](read_txn& t) { return t.find_conversation(g); });
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, g);
  EXPECT_EQ(c->kind, conv_kind::group);
  EXPECT_EQ(c->title, "team");
  EXPECT_EQ(c->last_seq, 0);
  EXPECT_EQ(c->first_seq, 1);
  EXPECT_EQ(c->created_ms, 777);

  ASSERT_EQ(write([&](write_txn& t) {
              t.set_title(g, "renamed \xF0\x9F\x98\x80");
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(g)->title; }),
            "renamed \xF0\x9F\x98\x80");
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_conversation(g + 1000); }));
}

TEST_P(StoreConformance, DirectConversationIsUniquePerPairAndFoundSymmetrically) {
  auto a = add_user("ann");
  auto b = add_user("bob");
  auto c = add_user("cat");
  conv_id d = 0, g1 = 0, g2 = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              d = t.insert_conversation(conv_kind::direct, "", std::pair{b.id, a.id}, 100);
              // Groups have no pair and are never unique.
              g1 = t.insert_conversation(conv_kind::group, "same", std::nullopt, 101);
              g2 = t.insert_conversation(conv_kind::group, "same", std::nullopt, 102);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_NE(g1, g2);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_direct(a.id, b.id); }), d);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_direct(b.id, a.id); }), d);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_direct(a.id, c.id); }));
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(d)->kind; }), conv_kind::direct);

  // A second direct conversation for the same pair (in either order) is refused; the
  // interface has no result for it, so any failure of the write counts.
  auto e = write([&](write_txn& t) {
    t.insert_conversation(conv_kind::direct, "", std::pair{a.id, b.id}, 103);
    return kOk;
  });
  EXPECT_NE(e.code, errc::ok);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_direct(b.id, a.id); }), d);

  conv_id ac = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              ac = t.insert_conversation(conv_kind::direct, "", std::pair{a.id, c.id}, 104);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_NE(ac, d);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_direct(c.id, a.id); }), ac);
}

TEST_P(StoreConformance, MembersJoinLeaveChangeRoleAndRejoin) {
  // Inserted out of id order so that ordering by user id is observable.
  auto a = add_user("ann");
  auto b = add_user("bob");
  auto c = add_user("cat");
  auto loner = add_user("lonely");
  conv_id g = add_group();
  conv_id other = add_group("other");
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(g, c.id, role::member, 1);
              t.put_member(g, a.id, role::owner, 1);
              t.put_member(g, b.id, role::admin, 2);
              t.put_member(other, a.id, role::member, 1);
              return kOk;
            }).code,
            errc::ok);

  std::vector<user_id> ids{a.id, b.id, c.id};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(read([&](read_txn& t) { return t.list_member_ids(g); }), ids);
  auto ms = read([&](read_txn& t) { return t.list_members(g); });
  ASSERT_EQ(ms.size(), 3u);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    EXPECT_EQ(ms[i].u.id, ids[i]);
    EXPECT_EQ(ms[i].conv, g);
    EXPECT_TRUE(ms[i].active());
  }

  auto mb = read([&](read_txn& t) { return t.find_membership(g, b.id); });
  ASSERT_TRUE(mb);
  EXPECT_EQ(mb->conv, g);
  EXPECT_EQ(mb->u.id, b.id);
  EXPECT_EQ(mb->u.handle, "bob");
  EXPECT_EQ(mb->role, role::admin);
  EXPECT_EQ(mb->joined_seq, 2);
  EXPECT_FALSE(mb->left_seq);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_membership(g, loner.id); }));

  ASSERT_EQ(write([&](write_txn& t) {
              t.set_member_role(g, b.id, role::member);
              t.set_member_left(g, c.id, 5);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_membership(g, b.id)->role; }), role::member);
  std::vector<user_id> active{a.id, b.id};
  std::sort(active.begin(), active.end());
  EXPECT_EQ(read([&](read_txn& t) { return t.list_member_ids(g); }), active);
  EXPECT_EQ(read([&](read_txn& t) { return t.list_members(g).size(); }), 2u);
  auto left = read([&](read_txn& t) { return t.find_membership(g, c.id); });
  ASSERT_TRUE(left);
  EXPECT_FALSE(left->active());
  EXPECT_EQ(left->left_seq, 5);
  EXPECT_EQ(left->joined_seq, 1);

  // Former members still list the conversation, with their membership row.
  auto cl = read([&](read_txn& t) { return t.list_conversations(c.id); });
  ASSERT_EQ(cl.size(), 1u);
  EXPECT_EQ(cl[0].first.id, g);
  EXPECT_EQ(cl[0].first.title, "team");
  EXPECT_EQ(cl[0].second.left_seq, 5);
  auto al = read([&](read_txn& t) { return t.list_conversations(a.id); });
  std::map<conv_id, membership> by_conv;
  for (auto& [conv, m] : al) by_conv[conv.id] = m;
  ASSERT_EQ(by_conv.size(), 2u);
  EXPECT_EQ(by_conv[g].role, role::owner);
  EXPECT_EQ(by_conv[other].role, role::member);
  EXPECT_TRUE(read([&](read_txn& t) { return t.list_conversations(loner.id); }).empty());

  // put_member on a former member makes them active again with the new joined_seq.
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(g, c.id, role::admin, 7);
              return kOk;
            }).code,
            errc::ok);
  auto back = read([&](read_txn& t) { return t.find_membership(g, c.id); });
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->active());
  EXPECT_EQ(back->joined_seq, 7);
  EXPECT_EQ(back->role, role::admin);
  EXPECT_EQ(read([&](read_txn& t) { return t.list_member_ids(g); }), ids);
}

TEST_P(StoreConformance, AppendAssignsGaplessSeqPerConversationFromOne) {
  auto a = add_user("ann");
  conv_id c1 = add_group("one");
  conv_id c2 = add_group("two");
  std::vector<event> in;
  ASSERT_EQ(write([&](write_txn& t) {
              in.clear();
              for (conv_id c : {c1, c1, c2, c1, c2}) {
                auto e = make_event(c, a.id);  // no client_msg_id: many per sender are fine
                t.append_event(e);
                in.push_back(e);
              }
              return kOk;
            }).code,
            errc::ok);
  ASSERT_EQ(in.size(), 5u);
  EXPECT_EQ(in[0].seq, 1);
  EXPECT_EQ(in[1].seq, 2);
  EXPECT_EQ(in[2].seq, 1);
  EXPECT_EQ(in[3].seq, 3);
  EXPECT_EQ(in[4].seq, 2);

  auto more = append(c2, a.id, 2);  // a later transaction continues the numbering
  EXPECT_EQ(seqs_of(more), (std::vector<seq_t>{3, 4}));
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(c1)->last_seq; }), 3);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(c2)->last_seq; }), 4);

  // Every field round-trips, including non-ASCII data.
  event special = make_event(c1, a.id, "cm:1_a-b.c", "h\xC3\xA9llo \xF0\x9F\x98\x80 \\\"q\\\"");
  special.type = "member.joined";
  ASSERT_EQ(write([&](write_txn& t) {
              t.append_event(special);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(special.seq, 4);
  auto evs1 = all_events(c1);
  ASSERT_EQ(evs1.size(), 4u);
  expect_same_event(evs1[0], in[0]);
  expect_same_event(evs1[1], in[1]);
  expect_same_event(evs1[2], in[3]);
  expect_same_event(evs1[3], special);
  auto evs2 = all_events(c2);
  ASSERT_EQ(evs2.size(), 4u);
  expect_same_event(evs2[0], in[2]);
  expect_same_event(evs2[3], more[1]);
}

TEST_P(StoreConformance, AppendToAMissingConversationFails) {
  auto a = add_user("ann");
  conv_id c = add_group();
  auto e = write([&](write_txn& t) {
    auto ev = make_event(c + 1000, a.id);
    t.append_event(ev);
    return kOk;
  });
  EXPECT_NE(e.code, errc::ok);
  EXPECT_TRUE(all_events(c + 1000).empty());
}

TEST_P(StoreConformance, ReadEventsRangesAndLimits) {
  auto a = add_user("ann");
  conv_id c = add_group();
  conv_id noise = add_group("noise");
  for (int i = 0; i < 5; ++i) {
    append(c, a.id, 2);
    append(noise, a.id, 1);
  }
  auto ev = [&](seq_t f, seq_t to, std::size_t lim) {
    return seqs_of(read([=](read_txn& t) { return t.read_events(c, f, to, lim); }));
  };
  auto desc = [&](seq_t f, seq_t to, std::size_t lim) {
    return seqs_of(read([=](read_txn& t) { return t.read_events_desc(c, f, to, lim); }));
  };
  EXPECT_EQ(ev(1, 10, 100), range(1, 10));
  EXPECT_EQ(ev(3, 7, 100), range(3, 7));
  EXPECT_EQ(ev(3, 7, 2), range(3, 4));
  EXPECT_EQ(ev(3, 3, 10), range(3, 3));
  EXPECT_EQ(ev(8, 1000, 100), range(8, 10));
  EXPECT_EQ(ev(0, 2, 100), range(1, 2));
  EXPECT_TRUE(ev(7, 3, 100).empty());
  EXPECT_TRUE(ev(11, 20, 100).empty());

  EXPECT_EQ(desc(3, 7, 100), (std::vector<seq_t>{7, 6, 5, 4, 3}));
  EXPECT_EQ(desc(3, 7, 2), (std::vector<seq_t>{7, 6}));
  EXPECT_EQ(desc(1, 10, 3), (std::vector<seq_t>{10, 9, 8}));
  EXPECT_EQ(desc(0, 1000, 1), (std::vector<seq_t>{10}));
  EXPECT_TRUE(desc(7, 3, 100).empty());
  EXPECT_TRUE(desc(11, 20, 100).empty());

  for (const auto& e : read([=](read_txn& t) { return t.read_events(c, 1, 10, 100); }))
    EXPECT_EQ(e.conv, c);
  EXPECT_EQ(seqs_of(all_events(noise)), range(1, 5));
}

TEST_P(StoreConformance, FindsEventsByClientMsgIdPerSender) {
  auto a = add_user("ann");
  auto b = add_user("bob");
  conv_id c = add_group();
  std::vector<event> in;
  ASSERT_EQ(write([&](write_txn& t) {
              in.clear();
              for (auto [sender, cmid] : std::vector<std::pair<user_id, std::string>>{
                       {a.id, "m-1"}, {b.id, "m-1"}, {a.id, ""}, {a.id, ""}, {a.id, "m-2"}}) {
                auto e = make_event(c, sender, cmid);
                t.append_event(e);
                in.push_back(e);
              }
              return kOk;
            }).code,
            errc::ok);

  auto fa = read([&](read_txn& t) { return t.find_event_by_client_msg_id(a.id, "m-1"); });
  ASSERT_TRUE(fa);
  expect_same_event(*fa, in[0]);
  auto fb = read([&](read_txn& t) { return t.find_event_by_client_msg_id(b.id, "m-1"); });
  ASSERT_TRUE(fb);
  expect_same_event(*fb, in[1]);
  auto f2 = read([&](read_txn& t) { return t.find_event_by_client_msg_id(a.id, "m-2"); });
  ASSERT_TRUE(f2);
  EXPECT_EQ(f2->seq, 5);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_event_by_client_msg_id(a.id, "m-3"); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_event_by_client_msg_id(b.id, "m-2"); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_event_by_client_msg_id(a.id, ""); }));

  // (sender, client_msg_id) is unique forever: a second append fails and uses no seq.
  auto e = write([&](write_txn& t) {
    auto ev = make_event(c, a.id, "m-1");
    t.append_event(ev);
    return kOk;
  });
  EXPECT_NE(e.code, errc::ok);
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(c)->last_seq; }), 5);
  auto next = append(c, a.id, 1);
  EXPECT_EQ(next[0].seq, 6);
}

void expect_key_of(const std::optional<send_key>& k, const event& e) {
  ASSERT_TRUE(k);
  EXPECT_EQ(k->conv, e.conv);
  EXPECT_EQ(k->seq, e.seq);
  EXPECT_EQ(k->event_id, e.id);
  EXPECT_EQ(k->ts_ms, e.ts_ms);
}

TEST_P(StoreConformance, SendKeysAreRecordedAndOutliveTheirEvents) {
  auto a = add_user("ann");
  auto b = add_user("bob");
  conv_id c = add_group();
  conv_id other = add_group("other");
  std::vector<event> in;
  ASSERT_EQ(
      write([&](write_txn& t) {
        in.clear();
        for (auto [conv, sender, cmid] : std::vector<std::tuple<conv_id, user_id, std::string>>{
                 {c, a.id, "k-1"}, {c, a.id, ""}, {c, b.id, "k-1"}, {other, a.id, "k-2"}}) {
          auto e = make_event(conv, sender, cmid);
          t.append_event(e);
          in.push_back(e);
        }
        return kOk;
      }).code,
      errc::ok);
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(a.id, "k-1"); }), in[0]);
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(b.id, "k-1"); }), in[2]);
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(a.id, "k-2"); }), in[3]);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_send_key(b.id, "k-2"); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_send_key(a.id, ""); }));

  // A rolled-back append leaves no key behind.
  EXPECT_EQ(write([&](write_txn& t) {
              auto e = make_event(c, a.id, "k-rolled-back");
              t.append_event(e);
              return make_error(errc::forbidden, "changed my mind");
            }).code,
            errc::forbidden);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_send_key(a.id, "k-rolled-back"); }));

  // Pruning removes the events but not their keys, and the keys stay unique.
  ASSERT_EQ(write([&](write_txn& t) {
              t.prune_before(c, 100);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_event_by_client_msg_id(a.id, "k-1"); }));
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(a.id, "k-1"); }), in[0]);
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(b.id, "k-1"); }), in[2]);
  auto e = write([&](write_txn& t) {
    auto ev = make_event(c, a.id, "k-1");
    t.append_event(ev);
    return kOk;
  });
  EXPECT_NE(e.code, errc::ok);
  EXPECT_TRUE(all_events(c).empty());
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(a.id, "k-1"); }), in[0]);

  reopen();
  expect_key_of(read([&](read_txn& t) { return t.find_send_key(a.id, "k-1"); }), in[0]);
}

TEST_P(StoreConformance, FailedWriteIsRolledBackWhileItsGroupCommits) {
  auto a = add_user("ann");
  conv_id c = add_group();
  constexpr int n = 40;
  std::vector<seq_t> seen(n, 0);
  auto results = write_batch(n, [&](write_txn& t, int i) -> error {
    auto u = t.insert_user("user" + std::to_string(i), "h", 1);
    if (!u) return u.err();
    auto e = make_event(c, a.id, "k" + std::to_string(i));
    t.append_event(e);
    t.set_title(c, "title " + std::to_string(i));
    seen[i] = e.seq;
    if (i % 3 == 1)
      return make_error(errc::conflict, "refused " + std::to_string(i),
                        "field" + std::to_string(i));
    return kOk;
  });

  std::vector<std::string> kept_cmids;
  std::string last_title;
  seq_t expect_seq = 1;
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE("write " + std::to_string(i));
    if (i % 3 == 1) {
      // The error reaches `done` exactly as returned.
      EXPECT_EQ(results[i].code, errc::conflict);
      EXPECT_EQ(results[i].message, "refused " + std::to_string(i));
      EXPECT_EQ(results[i].field, "field" + std::to_string(i));
      EXPECT_FALSE(
          read([&](read_txn& t) { return t.find_user_by_handle("user" + std::to_string(i)); }));
    } else {
      EXPECT_EQ(results[i].code, errc::ok);
      EXPECT_EQ(seen[i], expect_seq++);  // a rolled-back append leaves no hole
      kept_cmids.push_back("k" + std::to_string(i));
      last_title = "title " + std::to_string(i);
      EXPECT_TRUE(
          read([&](read_txn& t) { return t.find_user_by_handle("user" + std::to_string(i)); }));
    }
  }
  auto evs = all_events(c);
  EXPECT_EQ(seqs_of(evs), range(1, static_cast<seq_t>(kept_cmids.size())));
  std::vector<std::string> cmids;
  for (const auto& e : evs) cmids.push_back(e.client_msg_id);
  EXPECT_EQ(cmids, kept_cmids);
  auto conv = read([&](read_txn& t) { return t.find_conversation(c); });
  EXPECT_EQ(conv->last_seq, static_cast<seq_t>(kept_cmids.size()));
  EXPECT_EQ(conv->title, last_title);
}

// What a write sees of a conversation's members follows its own writes and everything
// rolled back, within one group commit and across them (backends may cache memberships).
TEST_P(StoreConformance, MembershipReadsInWritesFollowWritesAndRollbacks) {
  auto a = add_user("ann");
  auto b = add_user("bob");
  conv_id c = add_group();
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, a.id, role::owner, 1);
              return kOk;
            }).code,
            errc::ok);
  auto ids_in_write = [&] {
    std::vector<user_id> ids;
    EXPECT_EQ(write([&](write_txn& t) {
                ids = t.list_member_ids(c);
                return kOk;
              }).code,
              errc::ok);
    return ids;
  };
  auto bob_in_write = [&] {
    std::optional<membership> m;
    EXPECT_EQ(write([&](write_txn& t) {
                m = t.find_membership(c, b.id);
                return kOk;
              }).code,
              errc::ok);
    return m;
  };
  EXPECT_EQ(ids_in_write(), std::vector<user_id>{a.id});
  EXPECT_FALSE(bob_in_write());
  // Added, seen by the same job, then rolled back (error, and in another batch, throw).
  std::vector<user_id> seen_inside;
  std::optional<membership> bob_inside;
  std::vector<user_id> seen_after;
  auto results = write_batch(2, [&](write_txn& t, int i) -> error {
    if (i == 1) {
      seen_after = t.list_member_ids(c);
      return kOk;
    }
    t.put_member(c, b.id, role::member, 2);
    seen_inside = t.list_member_ids(c);
    bob_inside = t.find_membership(c, b.id);
    return make_error(errc::conflict, "changed my mind");
  });
  EXPECT_EQ(results[0].code, errc::conflict);
  EXPECT_EQ(results[1].code, errc::ok);
  std::vector<user_id> both{a.id, b.id};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(seen_inside, both);
  EXPECT_TRUE(bob_inside);
  EXPECT_EQ(seen_after, std::vector<user_id>{a.id});
  EXPECT_EQ(write([&](write_txn& t) -> error {
              t.put_member(c, b.id, role::member, 2);
              (void)t.list_member_ids(c);
              (void)t.find_membership(c, b.id);
              throw std::runtime_error("boom");
            }).code,
            errc::internal);
  EXPECT_EQ(ids_in_write(), std::vector<user_id>{a.id});
  EXPECT_FALSE(bob_in_write());
  // Committed changes are seen by later writes: join, role, leave.
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, b.id, role::member, 3);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(ids_in_write(), both);
  ASSERT_TRUE(bob_in_write());
  ASSERT_EQ(write([&](write_txn& t) {
              t.set_member_role(c, b.id, role::admin);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(bob_in_write()->role, role::admin);
  ASSERT_EQ(write([&](write_txn& t) {
              t.set_member_left(c, b.id, 4);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(ids_in_write(), std::vector<user_id>{a.id});
  auto m = bob_in_write();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->active());
  // And reads agree.
  EXPECT_EQ(read([&](read_txn& t) { return t.list_member_ids(c); }), std::vector<user_id>{a.id});
}

// A write may run more than once (a backend may roll a batch back and run it again); only
// its last run's writes count. An error returned before writing anything is the cheap
// case: the SQLite backend then runs nothing twice.
TEST_P(StoreConformance, OnlyTheLastRunOfAWriteCounts) {
  auto a = add_user("ann");
  conv_id c = add_group();
  for (bool fail_after_writing : {false, true}) {
    SCOPED_TRACE(fail_after_writing ? "failing after writing" : "failing before writing");
    constexpr int n = 5;
    std::vector<int> runs(n, 0);
    std::vector<seq_t> seqs(n, 0);
    std::string tag = fail_after_writing ? "after" : "before";
    auto results = write_batch(n, [&](write_txn& t, int i) -> error {
      ++runs[i];
      seqs[i] = 0;
      bool fails = i == 2;
      if (fails && !fail_after_writing) return make_error(errc::invalid, "no");
      auto e = make_event(c, a.id, tag + std::to_string(i));
      t.append_event(e);
      seqs[i] = e.seq;
      if (fails) return make_error(errc::conflict, "changed my mind");
      return kOk;
    });
    for (int i = 0; i < n; ++i) {
      SCOPED_TRACE("write " + std::to_string(i));
      EXPECT_GE(runs[i], 1);
      if (i == 2) {
        EXPECT_EQ(results[i].code, fail_after_writing ? errc::conflict : errc::invalid);
      } else {
        EXPECT_EQ(results[i].code, errc::ok);
      }
      if (GetParam().name.find("SQLite") != std::string::npos) {
        // After a failure that wrote, the batch runs again, isolated, from its start (the
        // first pass stopped at the failure).
        EXPECT_EQ(runs[i], fail_after_writing && i <= 2 ? 2 : 1);
      }
    }
    auto evs = all_events(c);
    std::vector<std::string> mine;
    for (const auto& e : evs)
      if (e.client_msg_id.rfind(tag, 0) == 0) mine.push_back(e.client_msg_id);
    EXPECT_EQ(mine, (std::vector<std::string>{tag + "0", tag + "1", tag + "3", tag + "4"}));
    EXPECT_EQ(seqs_of(evs), range(1, static_cast<seq_t>(evs.size())));  // no hole
    EXPECT_EQ(seqs[4], static_cast<seq_t>(evs.size()));
  }
}

// Appends in one batch, then writes of the same batch that read the conversation: they
// see its last seq as of the appends before them, and one that fails after reading (no
// rows of its own changed) runs once and leaves the others committed.
TEST_P(StoreConformance, AWriteReadsTheLastSeqOfAppendsEarlierInItsBatch) {
  auto a = add_user("ann");
  conv_id c = add_group();
  constexpr int n = 6;
  std::vector<int> runs(n, 0);
  std::vector<seq_t> seen(n, -1);
  auto results = write_batch(n, [&](write_txn& t, int i) -> error {
    ++runs[i];
    if (i % 2 == 0) {
      auto e = make_event(c, a.id, "seen" + std::to_string(i));
      t.append_event(e);
      return kOk;
    }
    auto conv = t.find_conversation(c);
    if (!conv) return make_error(errc::not_found, "gone");
    seen[i] = conv->last_seq;
    if (i == 3) return make_error(errc::forbidden, "read, then refused");
    return kOk;
  });
  EXPECT_EQ(seen[1], 1);
  EXPECT_EQ(seen[3], 2);
  EXPECT_EQ(seen[5], 3);
  EXPECT_EQ(results[3].code, errc::forbidden);
  for (int i : {0, 1, 2, 4, 5}) EXPECT_EQ(results[i].code, errc::ok) << i;
  if (GetParam().name.find("SQLite") != std::string::npos) {
    for (int i = 0; i < n; ++i) EXPECT_EQ(runs[i], 1) << "write " << i;
  }
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(c)->last_seq; }), 3);
  EXPECT_EQ(seqs_of(all_events(c)), range(1, 3));
}

TEST_P(StoreConformance, ThrowingWriteIsRolledBackAndReportedAsInternal) {
  auto a = add_user("ann");
  conv_id c = add_group();
  auto results = write_batch(3, [&](write_txn& t, int i) -> error {
    auto e = make_event(c, a.id, "t" + std::to_string(i));
    t.append_event(e);
    (void)t.insert_user("thrower" + std::to_string(i), "h", 1);
    if (i == 1) throw std::runtime_error("boom");
    return kOk;
  });
  EXPECT_EQ(results[0].code, errc::ok);
  EXPECT_EQ(results[1].code, errc::internal);
  EXPECT_EQ(results[2].code, errc::ok);
  auto evs = all_events(c);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].client_msg_id, "t0");
  EXPECT_EQ(evs[1].client_msg_id, "t2");
  EXPECT_EQ(seqs_of(evs), range(1, 2));
  EXPECT_FALSE(read([](read_txn& t) { return t.find_user_by_handle("thrower1"); }));
  EXPECT_TRUE(read([](read_txn& t) { return t.find_user_by_handle("thrower2"); }));
}

TEST_P(StoreConformance, DoneCallbacksRunInSubmissionOrder) {
  auto a = add_user("ann");
  conv_id c = add_group();
  constexpr int n = 300;
  std::mutex mu;
  std::vector<int> order;
  std::vector<errc> codes(n, errc::internal);
  countdown left(n);
  for (int i = 0; i < n; ++i) {
    st().write(
        [&, i](write_txn& t) -> error {
          if (i % 11 == 5) throw std::runtime_error("thrown");
          auto e = make_event(c, a.id);
          t.append_event(e);
          if (i % 7 == 3) return make_error(errc::forbidden, "no");
          return kOk;
        },
        [&, i](const error& e) {
          {
            std::lock_guard lk(mu);
            order.push_back(i);
            codes[i] = e.code;
          }
          left.hit();
        });
  }
  ASSERT_TRUE(left.wait());
  std::vector<int> expected(n);
  for (int i = 0; i < n; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    errc want = i % 11 == 5 ? errc::internal : i % 7 == 3 ? errc::forbidden : errc::ok;
    EXPECT_EQ(codes[i], want) << "write " << i;
    kept += want == errc::ok;
  }
  EXPECT_EQ(seqs_of(all_events(c)), range(1, kept));
}

TEST_P(StoreConformance, DataSurvivesReopening) {
  auto ann = add_user("ann");
  conv_id c = 0;
  device_id d = 0;
  const std::string th = token_hash("pt_durable");
  ASSERT_EQ(write([&](write_txn& t) {
              c = t.insert_conversation(conv_kind::group, "kept", std::nullopt, 42);
              t.put_member(c, ann.id, role::owner, 1);
              d = t.insert_device(ann.id, th, 1, 99'999);
              return kOk;
            }).code,
            errc::ok);
  auto before = append(c, ann.id, 5);

  reopen();

  auto cred = read([](read_txn& t) { return t.find_user_by_handle("ann"); });
  ASSERT_TRUE(cred);
  EXPECT_EQ(cred->u.id, ann.id);
  EXPECT_EQ(cred->password_hash, "hash-of-ann");
  auto dev = read([&](read_txn& t) { return t.find_device_by_token_hash(th); });
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->device, d);
  EXPECT_EQ(dev->expires_ms, 99'999);
  auto conv = read([&](read_txn& t) { return t.find_conversation(c); });
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->title, "kept");
  EXPECT_EQ(conv->created_ms, 42);
  EXPECT_EQ(conv->last_seq, 5);
  auto m = read([&](read_txn& t) { return t.find_membership(c, ann.id); });
  ASSERT_TRUE(m);
  EXPECT_EQ(m->role, role::owner);
  auto evs = all_events(c);
  ASSERT_EQ(evs.size(), 5u);
  for (std::size_t i = 0; i < evs.size(); ++i) expect_same_event(evs[i], before[i]);

  // The numbering and the ids continue; nothing is reused.
  EXPECT_EQ(append(c, ann.id, 1)[0].seq, 6);
  auto bob = add_user("bob");
  EXPECT_NE(bob.id, ann.id);
  EXPECT_EQ(write([](write_txn& t) -> error {
              auto r = t.insert_user("ann", "x", 1);
              return r ? kOk : r.err();
            }).code,
            errc::conflict);
}

TEST_P(StoreConformance, PruneBeforeSetsFirstSeqAndDeletesOlderEvents) {
  auto a = add_user("ann");
  conv_id c = add_group();
  conv_id other = add_group("other");
  append(c, a.id, 10);
  append(other, a.id, 3);
  auto prune = [&](conv_id conv, seq_t before) {
    seq_t out = -1;
    EXPECT_EQ(write([&](write_txn& t) {
                out = t.prune_before(conv, before);
                return kOk;
              }).code,
              errc::ok);
    return out;
  };

  EXPECT_EQ(prune(c, 5), 5);
  auto conv = read([&](read_txn& t) { return t.find_conversation(c); });
  EXPECT_EQ(conv->first_seq, 5);
  EXPECT_EQ(conv->last_seq, 10);
  EXPECT_EQ(seqs_of(all_events(c)), range(5, 10));
  EXPECT_EQ(seqs_of(all_events(other)), range(1, 3));
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(other)->first_seq; }), 1);

  // Pruning never moves first_seq back.
  EXPECT_EQ(prune(c, 3), 5);
  EXPECT_EQ(seqs_of(all_events(c)), range(5, 10));

  // Pruning past the end leaves an empty log that still continues its numbering.
  EXPECT_EQ(prune(c, 1000), 11);
  EXPECT_TRUE(all_events(c).empty());
  conv = read([&](read_txn& t) { return t.find_conversation(c); });
  EXPECT_EQ(conv->first_seq, 11);
  EXPECT_EQ(conv->last_seq, 10);
  EXPECT_EQ(append(c, a.id, 1)[0].seq, 11);
  EXPECT_EQ(seqs_of(all_events(c)), range(11, 11));
}

TEST_P(StoreConformance, ConcurrentWritersGetGaplessUniqueSeqs) {
  auto a = add_user("ann");
  std::vector<conv_id> convs{add_group("a"), add_group("b"), add_group("c")};
  constexpr int threads = 4, per_thread = 150;
  struct outcome {
    conv_id c = 0;
    seq_t seq = 0;  // written by the writer before `done`
    errc code = errc::internal;
  };
  std::vector<std::vector<outcome>> out(threads, std::vector<outcome>(per_thread));
  countdown left(threads * per_thread);
  std::vector<std::thread> ts;
  for (int th = 0; th < threads; ++th) {
    ts.emplace_back([&, th] {
      for (int i = 0; i < per_thread; ++i) {
        auto& o = out[th][i];
        o.c = convs[(th + i) % convs.size()];
        st().write(
            [&o, sender = a.id](write_txn& t) {
              auto e = make_event(o.c, sender);
              t.append_event(e);
              o.seq = e.seq;
              return kOk;
            },
            [&o, &left](const error& e) {
              o.code = e.code;
              left.hit();
            });
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(left.wait());

  std::map<conv_id, std::vector<seq_t>> per_conv;
  for (int th = 0; th < threads; ++th) {
    std::map<conv_id, seq_t> last;  // one thread's writes to a conversation keep their order
    for (const auto& o : out[th]) {
      ASSERT_EQ(o.code, errc::ok);
      EXPECT_GT(o.seq, last[o.c]);
      last[o.c] = o.seq;
      per_conv[o.c].push_back(o.seq);
    }
  }
  std::size_t total = 0;
  for (conv_id c : convs) {
    auto& v = per_conv[c];
    std::sort(v.begin(), v.end());
    EXPECT_EQ(v, range(1, static_cast<seq_t>(v.size()))) << "conversation " << c;
    EXPECT_EQ(seqs_of(all_events(c)), v);
    total += v.size();
  }
  EXPECT_EQ(total, static_cast<std::size_t>(threads * per_thread));
}

TEST_P(StoreConformance, ReadsSeeAConsistentSnapshotDuringWrites) {
  auto a = add_user("ann");
  conv_id c = add_group();
  constexpr int writes = 200, reads = 100;
  countdown wl(writes);
  for (int i = 0; i < writes; ++i) {
    st().write(
        [&](write_txn& t) {
          auto e = make_event(c, a.id);
          t.append_event(e);
          return kOk;
        },
        [&](const error&) { wl.hit(); });
  }
  std::atomic<int> inconsistent{0};
  countdown rl(reads);
  for (int i = 0; i < reads; ++i) {
    st().read(
        [&](read_txn& t) {
          auto last = t.find_conversation(c)->last_seq;
          auto evs = t.read_events(c, 1, 1'000'000, 1'000'000);
          if (static_cast<seq_t>(evs.size()) != last || (last > 0 && evs.back().seq != last))
            ++inconsistent;
          rl.hit();
        },
        [&](const error&) {
          ++inconsistent;
          rl.hit();
        });
  }
  ASSERT_TRUE(wl.wait());
  ASSERT_TRUE(rl.wait());
  EXPECT_EQ(inconsistent.load(), 0);
  // A read submitted after a write's `done` sees that write.
  EXPECT_EQ(read([&](read_txn& t) { return t.find_conversation(c)->last_seq; }), writes);
}

TEST_P(StoreConformance, ReadFailureGoesToOnError) {
  auto p = std::make_shared<std::promise<error>>();
  auto f = p->get_future();
  st().read([](read_txn&) { throw std::runtime_error("backend failure"); },
            [p](const error& e) { p->set_value(e); });
  EXPECT_EQ(get_or_throw(f).code, errc::internal);
}

TEST_P(StoreConformance, StopDrainsQueuedWritesAndRefusesNewWork) {
  auto a = add_user("ann");
  conv_id c = add_group();
  constexpr int n = 500;
  std::atomic<int> done_ok{0}, done_any{0};
  for (int i = 0; i < n; ++i) {
    st().write(
        [&](write_txn& t) {
          auto e = make_event(c, a.id);
          t.append_event(e);
          return kOk;
        },
        [&](const error& e) {
          done_any++;
          if (e.code == errc::ok) done_ok++;
        });
  }
  st().stop();  // returns only after every queued write has been answered
  EXPECT_EQ(done_any.load(), n);
  EXPECT_EQ(done_ok.load(), n);

  // After stop, work is refused (never silently dropped: the callback still runs).
  auto wp = std::make_shared<std::promise<error>>();
  auto wf = wp->get_future();
  st().write([](write_txn&) { return kOk; }, [wp](const error& e) { wp->set_value(e); });
  EXPECT_NE(get_or_throw(wf, "write after stop").code, errc::ok);
  auto rp = std::make_shared<std::promise<error>>();
  auto rf = rp->get_future();
  st().read([](read_txn&) {}, [rp](const error& e) { rp->set_value(e); });
  EXPECT_NE(get_or_throw(rf, "read after stop").code, errc::ok);

  reopen();
  EXPECT_EQ(seqs_of(all_events(c)), range(1, n));
}

// ---------------------------------------------------------------------------------------
// Message state

// Appends a message.created event with its message state, as a send does; returns the seq.
seq_t add_message(write_txn& t, conv_id c, user_id sender, const std::string& text,
                  std::optional<seq_t> thread = std::nullopt, std::vector<user_id> mentions = {}) {
  auto e = make_event(c, sender, {}, text);
  message_state m;
  m.conv = c;
  m.sender = sender;
  m.text = text;
  m.thread = thread;
  m.mentions = std::move(mentions);
  t.append_message(e, m);
  EXPECT_EQ(m.seq, e.seq);
  EXPECT_EQ(m.created_ms, e.ts_ms);
  return e.seq;
}

// append_message is append_event followed by insert_message: the same event, message,
// mentions and search entry either way.
TEST_P(StoreConformance, InsertMessageAfterItsEventEqualsAppendMessage) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto c = add_group();
  seq_t one = 0, two = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              t.put_member(c, bob.id, role::member, 1);
              one = add_message(t, c, ann.id, "kiwi one", std::nullopt, {bob.id});
              auto e = make_event(c, ann.id, {}, "kiwi two");
              t.append_event(e);
              message_state m;
              m.conv = c;
              m.seq = e.seq;
              m.sender = ann.id;
              m.created_ms = e.ts_ms;
              m.text = "kiwi two";
              m.mentions = {bob.id};
              t.insert_message(m);
              two = e.seq;
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(index_write(100), 2u);
  auto [a, b, evs, mentions] = read([&](read_txn& t) {
    return std::tuple{t.find_message(c, one), t.find_message(c, two),
                      t.read_events(c, one, two, 10), t.count_mentions(bob.id, c, 0, 0, 100)};
  });
  ASSERT_TRUE(a && b);
  ASSERT_EQ(evs.size(), 2u);
  for (auto [m, e] : {std::pair{&*a, &evs[0]}, std::pair{&*b, &evs[1]}}) {
    EXPECT_EQ(m->seq, e->seq);
    EXPECT_EQ(m->sender, ann.id);
    EXPECT_EQ(m->created_ms, e->ts_ms);
    EXPECT_EQ(m->mentions, std::vector<user_id>{bob.id});
    EXPECT_FALSE(m->thread);
    EXPECT_EQ(m->reply_count, 0);
  }
  EXPECT_EQ(a->text, "kiwi one");
  EXPECT_EQ(b->text, "kiwi two");
  EXPECT_EQ(mentions, 2);
  EXPECT_EQ(found(bob.id, "kiwi"), (std::vector<seq_t>{two, one}));
}

TEST_P(StoreConformance, MessagesListTheTimelineAndThreadsSeparately) {
  auto ann = add_user("ann");
  auto c = add_group();
  seq_t root = 0;
  std::vector<seq_t> top, replies;
  ASSERT_EQ(write([&](write_txn& t) {
              root = add_message(t, c, ann.id, "root");
              top.push_back(root);
              for (int i = 0; i < 3; ++i) {
                replies.push_back(add_message(t, c, ann.id, "r", root));
                top.push_back(add_message(t, c, ann.id, "m" + std::to_string(i)));
              }
              t.add_thread_reply(c, root, ann.id, 5000);
              return kOk;
            }).code,
            errc::ok);
  auto seqs = [](const std::vector<message_state>& ms) {
    std::vector<seq_t> out;
    for (const auto& m : ms) out.push_back(m.seq);
    return out;
  };
  EXPECT_EQ(seqs(read([&](read_txn& t) { return t.list_messages(c, 0, 0, 1000, 100, false); })),
            top);
  EXPECT_EQ(seqs(read([&](read_txn& t) { return t.list_messages(c, root, 0, 1000, 100, false); })),
            replies);
  auto newest2 = read([&](read_txn& t) { return t.list_messages(c, 0, 0, 1000, 2, true); });
  EXPECT_EQ(seqs(newest2), (std::vector<seq_t>{top[3], top[2]}));
  auto ranged = read([&](read_txn& t) { return t.list_messages(c, 0, top[1], top[2], 10, false); });
  EXPECT_EQ(seqs(ranged), (std::vector<seq_t>{top[1], top[2]}));
  auto r = read([&](read_txn& t) { return t.find_message(c, root); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "root");
  EXPECT_EQ(r->reply_count, 1);
  EXPECT_EQ(r->last_reply_ms, 5000);
  EXPECT_EQ(read([&](read_txn& t) { return t.list_thread_participants(c, root, 10); }),
            std::vector<user_id>{ann.id});
  auto reply = read([&](read_txn& t) { return t.find_message(c, replies[0]); });
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->thread, root);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_message(c, 999).has_value(); }));
}

TEST_P(StoreConformance, ReactionsAreUniquePerUserMessageAndEmoji) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto c = add_group();
  seq_t m = 0;
  std::vector<bool> changed;
  ASSERT_EQ(write([&](write_txn& t) {
              m = add_message(t, c, ann.id, "x");
              changed.push_back(t.add_reaction(c, m, "👍", bob.id, 10));
              changed.push_back(t.add_reaction(c, m, "👍", bob.id, 11));
              changed.push_back(t.add_reaction(c, m, "🎉", ann.id, 12));
              changed.push_back(t.add_reaction(c, m, "👍", ann.id, 13));
              changed.push_back(t.remove_reaction(c, m, "🎉", bob.id));
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(changed, (std::vector<bool>{true, false, true, true, false}));
  auto rs = read([&](read_txn& t) { return t.list_reactions(c, m, m, 1); });
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].emoji, "👍");
  EXPECT_EQ(rs[0].count, 2);
  EXPECT_EQ(rs[0].users, std::vector<user_id>{bob.id});  // capped at 1, oldest first
  EXPECT_EQ(rs[1].emoji, "🎉");
  EXPECT_EQ(read([&](read_txn& t) { return t.count_user_reactions(c, m, ann.id); }), 2u);
}

TEST_P(StoreConformance, ReadPointersOnlyMoveForwardAndDriveUnreadCounts) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto c = add_group();
  std::vector<seq_t> ms;
  ASSERT_EQ(write([&](write_txn& t) {
              for (int i = 0; i < 4; ++i)
                ms.push_back(add_message(t, c, ann.id, "m", {}, {bob.id}));
              add_message(t, c, bob.id, "own");
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(read([&](read_txn& t) { return t.count_unread(c, 0, bob.id, 0, 1000); }), 4);
  EXPECT_EQ(read([&](read_txn& t) { return t.count_unread(c, 0, bob.id, 0, 3); }), 3);  // cap
  EXPECT_EQ(read([&](read_txn& t) { return t.count_mentions(bob.id, c, 0, 0, 1000); }), 4);
  std::vector<bool> moved;
  ASSERT_EQ(write([&](write_txn& t) {
              moved.push_back(t.advance_read_pointer(bob.id, c, 0, ms[2]));
              moved.push_back(t.advance_read_pointer(bob.id, c, 0, ms[1]));
              moved.push_back(t.advance_read_pointer(bob.id, c, 0, ms[2]));
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(moved, (std::vector<bool>{true, false, false}));
  auto rp = read([&](read_txn& t) { return t.find_read_pointer(bob.id, c, 0); });
  EXPECT_EQ(rp, ms[2]);
  EXPECT_EQ(read([&](read_txn& t) { return t.count_unread(c, 0, bob.id, *rp, 1000); }), 1);
  EXPECT_EQ(read([&](read_txn& t) { return t.count_mentions(bob.id, c, 0, *rp, 1000); }), 1);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_read_pointer(ann.id, c, 0).has_value(); }));
}

TEST_P(StoreConformance, DeletingAMessageRemovesItsContentEverywhere) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto c = add_group();
  seq_t m = 0, edit = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              m = add_message(t, c, ann.id, "secret one", {}, {bob.id});
              auto e = make_event(c, ann.id, {}, "secret two");
              t.append_event(e);
              edit = e.seq;
              t.edit_message(c, m, "secret two", 7000, edit);
              t.add_reaction(c, m, "👍", bob.id, 8000);
              return kOk;
            }).code,
            errc::ok);
  auto versions = read([&](read_txn& t) { return t.list_edits(c, m); });
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].text, "secret one");
  EXPECT_EQ(versions[0].edit_seq, edit);
  // Read the events once so that a cache holds them.
  EXPECT_EQ(all_events(c).size(), static_cast<std::size_t>(edit));
  std::vector<seq_t> edit_seqs;
  ASSERT_EQ(write([&](write_txn& t) {
              edit_seqs = t.delete_message(c, m, 9000);
              t.rewrite_event_data(c, m, "{\"deleted\":true}");
              for (auto s : edit_seqs) t.rewrite_event_data(c, s, "{\"deleted\":true}");
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(edit_seqs, std::vector<seq_t>{edit});
  for (const auto& e : all_events(c)) EXPECT_EQ(e.data.find("secret"), std::string::npos) << e.data;
  auto gone = read([&](read_txn& t) { return t.find_message(c, m); });
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->deleted());
  EXPECT_EQ(gone->deleted_ms, 9000);
  EXPECT_TRUE(gone->text.empty());
  EXPECT_TRUE(gone->mentions.empty());
  EXPECT_TRUE(read([&](read_txn& t) { return t.list_edits(c, m); }).empty());
  EXPECT_TRUE(read([&](read_txn& t) { return t.list_reactions(c, m, m, 10); }).empty());
  EXPECT_EQ(read([&](read_txn& t) { return t.count_mentions(bob.id, c, 0, 0, 10); }), 0);
  reopen();
  for (const auto& e : all_events(c)) EXPECT_EQ(e.data.find("secret"), std::string::npos) << e.data;
}

TEST_P(StoreConformance, FollowsKeepAnExplicitChoice) {
  auto ann = add_user("ann");
  auto c = add_group();
  std::vector<bool> changed;
  ASSERT_EQ(write([&](write_txn& t) {
              changed.push_back(t.set_follow(ann.id, c, 5, false, false));  // unfollow first
              changed.push_back(t.set_follow(ann.id, c, 5, true, true));    // auto: kept off
              changed.push_back(t.set_follow(ann.id, c, 6, true, true));
              changed.push_back(t.set_follow(ann.id, c, 6, true, false));
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(changed, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(read([&](read_txn& t) { return t.find_follow(ann.id, c, 5); }), false);
  auto fs = read([&](read_txn& t) { return t.list_followed_threads(ann.id, 0); });
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].root, 6);
}

TEST_P(StoreConformance, SearchFindsIndexedMessagesOfTheUsersConversationsOnly) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto c1 = add_group("one");
  auto c2 = add_group("two");
  seq_t m1 = 0, m2 = 0, m3 = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c1, ann.id, role::owner, 1);
              t.put_member(c2, bob.id, role::owner, 1);
              m1 = add_message(t, c1, ann.id, "comet one");
              m2 = add_message(t, c1, ann.id, "comet two");
              m3 = add_message(t, c2, bob.id, "comet three");
              return kOk;
            }).code,
            errc::ok);
  auto find = [&](user_id u, const std::string& word) { return found(u, word); };
  EXPECT_TRUE(find(ann.id, "comet").empty());  // nothing indexed yet
  std::vector<std::size_t> taken;
  ASSERT_EQ(write([&](write_txn& t) {
              taken.push_back(t.index_pending(2));
              taken.push_back(t.index_pending(2));
              taken.push_back(t.index_pending(2));
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(taken, (std::vector<std::size_t>{2, 1, 0}));
  EXPECT_EQ(find(ann.id, "comet"), (std::vector<seq_t>{m2, m1}));
  EXPECT_EQ(find(bob.id, "comet"), std::vector<seq_t>{m3});
  auto hits = read([&](read_txn& t) {
    search_query q;
    q.match = "\"two\"";
    return t.search_messages(ann.id, q);
  });
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, "comet \x01two\x02");
  // Indexed messages: an edit re-indexes, a delete takes the terms out.
  ASSERT_EQ(write([&](write_txn& t) {
              t.edit_message(c1, m1, "meteor one", 5, 100);
              t.delete_message(c1, m2, 6);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(find(ann.id, "comet").empty());
  EXPECT_EQ(find(ann.id, "meteor"), std::vector<seq_t>{m1});
  EXPECT_TRUE(find(ann.id, "two").empty());
}

// What the index holds follows each message's text through edits and deletes, whether
// the message was indexed or still queued when they came, and a message sent without
// text (an attachment) is found once an edit gives it text. Messages queued after an
// indexing round, in the same transaction or later ones, are taken by the next.
TEST_P(StoreConformance, SearchFollowsEditsOfQueuedIndexedAndTextlessMessages) {
  auto ann = add_user("ann");
  auto c = add_group();
  seq_t bare = 0, queued = 0, later = 0, last = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              bare = add_message(t, c, ann.id, "");
              add_message(t, c, ann.id, "nebula first");
              return kOk;
            }).code,
            errc::ok);
  auto find = [&](const std::string& word) { return found(ann.id, word); };
  auto index_round = [&] { return index_write(100); };
  std::size_t taken = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              taken = t.index_pending(100);
              queued = add_message(t, c, ann.id, "quasar");  // after the round
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(taken, 1u);
  ASSERT_EQ(write([&](write_txn& t) {
              t.edit_message(c, bare, "pulsar", 10, 100);  // no text until now
              t.edit_message(c, queued, "quasar edited", 11, 101);
              later = add_message(t, c, ann.id, "galaxy");
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(find("pulsar"), std::vector<seq_t>{bare});
  EXPECT_TRUE(find("quasar").empty());  // still queued
  EXPECT_EQ(index_round(), 2u);
  EXPECT_EQ(find("quasar"), std::vector<seq_t>{queued});
  EXPECT_EQ(find("edited"), std::vector<seq_t>{queued});
  EXPECT_EQ(find("galaxy"), std::vector<seq_t>{later});
  // Indexed now: an edit replaces the terms, a delete takes them out.
  ASSERT_EQ(write([&](write_txn& t) {
              t.edit_message(c, bare, "magnetar", 12, 102);
              t.delete_message(c, later, 13);
              last = add_message(t, c, ann.id, "nova");
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(find("pulsar").empty());
  EXPECT_EQ(find("magnetar"), std::vector<seq_t>{bare});
  EXPECT_TRUE(find("galaxy").empty());
  EXPECT_TRUE(find("nova").empty());
  index_round();
  EXPECT_EQ(find("nova"), std::vector<seq_t>{last});
  // After a restart with nothing queued, a new message is still queued, not taken for
  // indexed: an edit before the round does not touch the index, the round takes it.
  reopen();
  seq_t fresh = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              fresh = add_message(t, c, ann.id, "comet");
              t.edit_message(c, fresh, "comet tail", 14, 103);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(find("comet").empty());
  EXPECT_EQ(index_round(), 1u);
  EXPECT_EQ(find("tail"), std::vector<seq_t>{fresh});
  EXPECT_EQ(find("magnetar"), std::vector<seq_t>{bare});
}

// Messages queued for the index by writes of one group commit, some of which fail after
// writing (so the batch may be rolled back and run again, each write in a savepoint), with
// indexing rounds among them (one of them in a failing write): each round takes what was
// queued before it, a rolled-back round leaves its messages queued, what committed is found
// once each, what was rolled back never, and messages stored after it (in later commits,
// and after a restart) are still queued and found once indexed.
TEST_P(StoreConformance, SearchIndexesWhatAGroupCommitKeptAcrossItsRollbacks) {
  auto ann = add_user("ann");
  auto c = add_group();
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              add_message(t, c, ann.id, "term0x");  // queued before the batch
              return kOk;
            }).code,
            errc::ok);
  auto find = [&](const std::string& word) { return found(ann.id, word); };
  auto index_all = [&] { return index_write(3, true); };
  constexpr int n = 10;  // write i stores "term<i + 1>x"; 1, 4 and 7 fail after writing
  auto fails = [](int i) { return i % 3 == 1; };
  std::vector<seq_t> seqs(n, 0);
  std::vector<std::size_t> round(n, 0);
  auto results = write_batch(n, [&](write_txn& t, int i) -> error {
    // Indexing rounds inside the batch: in its first write (run again if the batch is),
    // in a write that commits, and in one rolled back.
    if (i == 0 || i == 3 || i == 4) round[i] = t.index_pending(100);
    seqs[i] = add_message(t, c, ann.id, "term" + std::to_string(i + 1) + "x");
    if (fails(i)) return make_error(errc::conflict, "refused");
    return kOk;
  });
  EXPECT_EQ(round[0], 1u);     // term0x
  EXPECT_EQ(round[3], 2u);     // term1x, term3x (term2x was rolled back)
  EXPECT_EQ(round[4], 1u);     // term4x, rolled back with the write: queued again
  EXPECT_EQ(index_all(), 5u);  // term4x, term6x, term7x, term9x, term10x
  EXPECT_EQ(find("term0x").size(), 1u);
  seq_t expect = 2;  // gapless: the rolled-back sends left no hole
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE("write " + std::to_string(i));
    auto word = "term" + std::to_string(i + 1) + "x";
    if (fails(i)) {
      EXPECT_EQ(results[i].code, errc::conflict);
      EXPECT_TRUE(find(word).empty());
    } else {
      EXPECT_EQ(results[i].code, errc::ok);
      EXPECT_EQ(seqs[i], expect++);
      EXPECT_EQ(find(word), std::vector<seq_t>{seqs[i]});
    }
  }
  // Stored after all that, in a later commit and then after a restart: queued (not
  // taken for indexed), found after a round.
  for (std::string word : {"afterword", "restartword"}) {
    if (word == "restartword") reopen();
    seq_t after = 0;
    ASSERT_EQ(write([&](write_txn& t) {
                after = add_message(t, c, ann.id, word);
                return kOk;
              }).code,
              errc::ok);
    EXPECT_TRUE(find(word).empty());
    EXPECT_EQ(index_all(), 1u);
    EXPECT_EQ(find(word), std::vector<seq_t>{after});
  }
  EXPECT_EQ(find("term1x").size(), 1u);
}

TEST_P(StoreConformance, DeletedMessagesArePurgedFromTheSearchIndexInBoundedSteps) {
  auto ann = add_user("ann");
  auto c = add_group();
  seq_t gone = 0;
  bool pending_before = true;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              for (int i = 0; i < 50; ++i) add_message(t, c, ann.id, "filler " + std::to_string(i));
              gone = add_message(t, c, ann.id, "vanishing words");
              while (t.index_pending(7) > 0) {  // several segments
              }
              pending_before = t.purge_search_index(1);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_FALSE(pending_before);  // nothing deleted: no work
  int rounds = 0;
  bool more = true;
  ASSERT_EQ(write([&](write_txn& t) {
              t.delete_message(c, gone, 10);
              while (more && rounds < 1000) {
                more = t.purge_search_index(1);
                ++rounds;
              }
              return kOk;
            }).code,
            errc::ok);
  EXPECT_FALSE(more);
  EXPECT_GE(rounds, 2);  // it had merging to do
  search_query q;
  q.match = "\"vanishing\"";
  EXPECT_TRUE(read([&](read_txn& t) { return t.search_messages(ann.id, q); }).empty());
}

TEST_P(StoreConformance, UploadsAreOwnedSeenThroughMessagesAndCollectedWhenUnreferenced) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto eve = add_user("eve");
  auto c = add_group();
  upload_info pic{std::string(64, 'a'), 1234, "image/png", 640, 480};
  upload_info doc{std::string(64, 'b'), 99, "application/pdf", 0, 0};
  seq_t m1 = 0, m2 = 0;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              t.put_member(c, bob.id, role::member, 1);
              t.put_upload(pic, ann.id, 1000);
              t.put_upload(doc, ann.id, 1000);
              t.put_upload(pic, eve.id, 1500);  // the same content again: touched, a new owner
              m1 = add_message(t, c, ann.id, "");
              t.add_attachments(c, m1, {attachment{pic, "cat.png"}, attachment{doc, "a.pdf"}});
              m2 = add_message(t, c, ann.id, "");
              t.add_attachments(c, m2, {attachment{pic, "again.png"}});
              return kOk;
            }).code,
            errc::ok);
  auto found = read([&](read_txn& t) { return t.find_upload(pic.id); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size, 1234);
  EXPECT_EQ(found->type, "image/png");
  EXPECT_EQ(found->width, 640);
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_upload(std::string(64, 'c')); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.owns_upload(eve.id, pic.id); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.owns_upload(bob.id, pic.id); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.sees_upload(bob.id, doc.id); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.sees_upload(eve.id, doc.id); }));
  auto atts = read([&](read_txn& t) { return t.list_attachments(c, m1, m2); });
  ASSERT_EQ(atts.size(), 3u);
  EXPECT_EQ(atts[0].first, m1);
  EXPECT_EQ(atts[0].second.name, "cat.png");
  EXPECT_EQ(atts[1].second.upload.id, doc.id);
  EXPECT_EQ(atts[2].first, m2);
  EXPECT_EQ(atts[2].second.upload.height, 480);

  // Carried by messages: never collected, however old.
  std::vector<std::string> collected;
  ASSERT_EQ(write([&](write_txn& t) {
              collected = t.collect_uploads(1'000'000, 10);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(collected.empty());
  // Deleting m1 detaches both (touching them at 5000): doc is unreferenced from then on,
  // pic is still carried by m2. Bob, a member, stops seeing doc.
  ASSERT_EQ(write([&](write_txn& t) {
              t.delete_message(c, m1, 5000);
              collected = t.collect_uploads(4999, 10);  // within the grace period
              return kOk;
            }).code,
            errc::ok);
  EXPECT_TRUE(collected.empty());
  EXPECT_FALSE(read([&](read_txn& t) { return t.sees_upload(bob.id, doc.id); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.sees_upload(bob.id, pic.id); }));
  ASSERT_EQ(write([&](write_txn& t) {
              collected = t.collect_uploads(5001, 10);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(collected, std::vector<std::string>{doc.id});
  EXPECT_FALSE(read([&](read_txn& t) { return t.find_upload(doc.id); }));
  EXPECT_FALSE(read([&](read_txn& t) { return t.owns_upload(ann.id, doc.id); }));
  EXPECT_TRUE(read([&](read_txn& t) { return t.find_upload(pic.id); }));
  reopen();
  EXPECT_EQ(read([&](read_txn& t) { return t.list_attachments(c, 0, 100); }).size(), 1u);
}

TEST_P(StoreConformance, ReceiptsMoveForwardOnlyPerDeviceAndPerUser) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto eve = add_user("eve");
  auto c = add_group();
  std::vector<seq_t> moved;
  ASSERT_EQ(write([&](write_txn& t) {
              t.put_member(c, ann.id, role::owner, 1);
              t.put_member(c, bob.id, role::member, 1);
              moved.push_back(t.advance_delivered(1, bob.id, c, 5));  // device 1
              moved.push_back(t.advance_delivered(2, bob.id, c, 3));  // device 2: behind
              moved.push_back(t.advance_delivered(1, bob.id, c, 4));  // reordered: ignored
              moved.push_back(t.advance_delivered(2, bob.id, c, 7));
              t.advance_read_pointer(bob.id, c, 0, 6);
              t.advance_read_pointer(bob.id, c, 9, 12);
              t.put_prefs(ann.id, true, false);
              return kOk;
            }).code,
            errc::ok);
  EXPECT_EQ(moved, (std::vector<seq_t>{5, 0, 0, 7}));
  EXPECT_EQ(read([&](read_txn& t) { return t.find_delivered(bob.id, c); }), 7);
  auto rs = read([&](read_txn& t) { return t.list_receipts(c, 0); });
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].user, ann.id);
  EXPECT_TRUE(rs[0].private_read);
  EXPECT_EQ(rs[1].delivered, 7);
  EXPECT_EQ(rs[1].read, 6);
  auto th = read([&](read_txn& t) { return t.list_receipts(c, 9); });
  EXPECT_EQ(th[1].read, 12);
  EXPECT_EQ(th[1].delivered, 0);
  EXPECT_EQ(read([&](read_txn& t) { return t.list_contacts(bob.id); }),
            std::vector<user_id>{ann.id});
  EXPECT_TRUE(read([&](read_txn& t) { return t.list_contacts(eve.id); }).empty());
  ASSERT_EQ(write([&](write_txn& t) {
              t.set_last_seen(bob.id, 500);
              t.set_last_seen(bob.id, 400);  // older: kept 500
              t.set_member_left(c, bob.id, 10);
              return kOk;
            }).code,
            errc::ok);
  auto p = read([&](read_txn& t) { return t.find_prefs(bob.id); });
  EXPECT_EQ(p.last_seen_ms, 500);
  EXPECT_FALSE(p.invisible);
  EXPECT_TRUE(read([&](read_txn& t) { return t.list_contacts(ann.id); }).empty());  // bob left
  EXPECT_EQ(read([&](read_txn& t) { return t.list_receipts(c, 0); }).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(sqlite_backend(), sqlite_backend("full"),
                                           cached_sqlite_backend(), pg_backend()),
                         [](const ::testing::TestParamInfo<store_backend>& i) {
                           return i.param.name;
                         });

}  // namespace
}  // namespace parley
