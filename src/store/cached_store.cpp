#include "store/cached_store.hpp"

namespace parley {

namespace {

// Read calls pass through, except event ranges, which the cache may answer.
template <class Base>
class forwarding_read : public Base {
 public:
  forwarding_read(read_txn& t, event_cache* cache) : r_(t), cache_(cache) {}

  std::optional<credentials> find_user_by_handle(const std::string& h) override {
    return r_.find_user_by_handle(h);
  }
  std::optional<user> find_user(user_id id) override { return r_.find_user(id); }
  std::optional<device_session> find_device_by_token_hash(const std::string& h) override {
    return r_.find_device_by_token_hash(h);
  }
  std::optional<conversation> find_conversation(conv_id id) override {
    return r_.find_conversation(id);
  }
  std::optional<conv_id> find_direct(user_id a, user_id b) override { return r_.find_direct(a, b); }
  std::optional<membership> find_membership(conv_id c, user_id u) override {
    return r_.find_membership(c, u);
  }
  std::vector<membership> list_members(conv_id c) override { return r_.list_members(c); }
  std::vector<user_id> list_member_ids(conv_id c) override { return r_.list_member_ids(c); }
  std::vector<std::pair<conversation, membership>> list_conversations(user_id u) override {
    return r_.list_conversations(u);
  }
  std::vector<event> read_events(conv_id c, seq_t from, seq_t to, std::size_t limit) override {
    std::vector<event> out;
    if (cache_ && cache_->read(c, from, to, limit, out)) return out;
    return r_.read_events(c, from, to, limit);
  }
  std::vector<event> read_events_desc(conv_id c, seq_t from, seq_t to, std::size_t limit) override {
    std::vector<event> out;
    if (cache_ && cache_->read_desc(c, from, to, limit, out)) return out;
    return r_.read_events_desc(c, from, to, limit);
  }
  std::optional<event> find_event_by_client_msg_id(user_id s, const std::string& m) override {
    return r_.find_event_by_client_msg_id(s, m);
  }
  std::optional<send_key> find_send_key(user_id s, const std::string& m) override {
    return r_.find_send_key(s, m);
  }

 private:
  read_txn& r_;
  event_cache* cache_;
};

// What one write job changed that the caches must learn after its commit.
struct write_record {
  std::vector<event> appended;
  std::vector<conv_id> rewritten;   // conversations whose stored events changed
  std::vector<conv_id> membership;  // conversations whose members changed
};

// Past this many cached rows and ids, the membership cache starts over.
constexpr std::size_t kMembersCacheEntries = 1'000'000;

// A write transaction whose event reads see the transaction itself (no cache), and which
// records appended events and rewrites for the cache.
class recording_write final : public forwarding_read<write_txn> {
 public:
  recording_write(write_txn& t, write_record& rec, cached_store::members_cache& mc)
      : forwarding_read<write_txn>(t, nullptr), w_(t), rec_(rec), mc_(mc) {}

  std::optional<membership> find_membership(conv_id c, user_id u) override {
    auto key = std::make_pair(c, u);
    if (auto it = mc_.rows.find(key); it != mc_.rows.end()) return it->second;
    auto m = w_.find_membership(c, u);
    remember();
    mc_.rows.emplace(key, m);
    ++mc_.entries;
    return m;
  }
  std::vector<user_id> list_member_ids(conv_id c) override {
    if (auto it = mc_.ids.find(c); it != mc_.ids.end()) return it->second;
    auto ids = w_.list_member_ids(c);
    remember();
    mc_.entries += ids.size() + 1;
    mc_.ids.emplace(c, ids);
    return ids;
  }

  result<user> insert_user(const std::string& h, const std::string& pw, std::int64_t now) override {
    return w_.insert_user(h, pw, now);
  }
  device_id insert_device(user_id u, const std::string& th, std::int64_t now,
                          std::int64_t exp) override {
    return w_.insert_device(u, th, now, exp);
  }
  bool delete_device(device_id d) override { return w_.delete_device(d); }
  conv_id insert_conversation(conv_kind k, const std::string& title,
                              std::optional<std::pair<user_id, user_id>> pair,
                              std::int64_t now) override {
    return w_.insert_conversation(k, title, pair, now);
  }
  void set_title(conv_id c, const std::string& t) override { w_.set_title(c, t); }
  void put_member(conv_id c, user_id u, role r, seq_t joined) override {
    members_changed(c);
    w_.put_member(c, u, r, joined);
  }
  void set_member_left(conv_id c, user_id u, seq_t left) override {
    members_changed(c);
    w_.set_member_left(c, u, left);
  }
  void set_member_role(conv_id c, user_id u, role r) override {
    members_changed(c);
    w_.set_member_role(c, u, r);
  }
  void append_event(event& ev) override {
    w_.append_event(ev);
    rec_.appended.push_back(ev);
  }
  seq_t prune_before(conv_id c, seq_t before) override {
    rec_.rewritten.push_back(c);
    return w_.prune_before(c, before);
  }

 private:
  void members_changed(conv_id c) {
    mc_.drop(c);
    rec_.membership.push_back(c);
  }
  // Keeps the cache bounded: it starts over when full.
  void remember() {
    if (mc_.entries > kMembersCacheEntries) mc_.clear();
  }

  write_txn& w_;
  write_record& rec_;
  cached_store::members_cache& mc_;
};

}  // namespace

void cached_store::members_cache::drop(conv_id c) {
  if (auto it = ids.find(c); it != ids.end()) {
    entries -= std::min(entries, it->second.size() + 1);
    ids.erase(it);
  }
  auto it = rows.lower_bound({c, 0});
  while (it != rows.end() && it->first.first == c) {
    it = rows.erase(it);
    if (entries) --entries;
  }
}

void cached_store::members_cache::clear() {
  ids.clear();
  rows.clear();
  entries = 0;
}

cached_store::cached_store(store& inner, event_cache::options o) : inner_(inner), cache_(o) {}

void cached_store::write(write_fn fn, write_done done) {
  auto rec = std::make_shared<write_record>();
  inner_.write(
      [this, fn = std::move(fn), rec](write_txn& t) {
        recording_write w(t, *rec, members_);
        error e;
        try {
          e = fn(w);
        } catch (...) {
          for (auto c : rec->membership) members_.drop(c);  // rolled back by the store
          throw;
        }
        if (e.code != errc::ok) {
          // Rolled back: forget what this job's writes made the cache believe.
          for (auto c : rec->membership) members_.drop(c);
          *rec = write_record{};
        }
        return e;
      },
      [this, rec, done = std::move(done)](const error& e) {
        // Runs on the writer thread after the commit, in commit order.
        if (e.code != errc::ok) members_.clear();  // the batch may have rolled back
        for (auto c : rec->rewritten) cache_.invalidate(c);
        if (e.code == errc::ok)
          for (auto& ev : rec->appended) cache_.append(std::move(ev));
        done(e);
      });
}

void cached_store::read(read_fn fn, std::function<void(const error&)> on_error) {
  inner_.read(
      [this, fn = std::move(fn)](read_txn& t) {
        forwarding_read<read_txn> r(t, &cache_);
        fn(r);
      },
      std::move(on_error));
}

void cached_store::stop() {
  inner_.stop();
}

}  // namespace parley
