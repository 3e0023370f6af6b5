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
  std::optional<message_state> find_message(conv_id c, seq_t seq) override {
    return r_.find_message(c, seq);
  }
  std::vector<message_state> list_messages(conv_id c, seq_t root, seq_t from, seq_t to,
                                           std::size_t limit, bool desc) override {
    return r_.list_messages(c, root, from, to, limit, desc);
  }
  std::vector<reaction_count> list_reactions(conv_id c, seq_t from, seq_t to,
                                             std::size_t max_users) override {
    return r_.list_reactions(c, from, to, max_users);
  }
  std::size_t count_user_reactions(conv_id c, seq_t msg, user_id u) override {
    return r_.count_user_reactions(c, msg, u);
  }
  std::vector<user_id> list_thread_participants(conv_id c, seq_t root, std::size_t n) override {
    return r_.list_thread_participants(c, root, n);
  }
  std::optional<bool> find_follow(user_id u, conv_id c, seq_t root) override {
    return r_.find_follow(u, c, root);
  }
  std::vector<followed_thread> list_followed_threads(user_id u, conv_id c) override {
    return r_.list_followed_threads(u, c);
  }
  std::vector<message_edit> list_edits(conv_id c, seq_t seq) override {
    return r_.list_edits(c, seq);
  }
  std::optional<seq_t> find_read_pointer(user_id u, conv_id c, seq_t root) override {
    return r_.find_read_pointer(u, c, root);
  }
  std::int64_t count_unread(conv_id c, seq_t root, user_id u, seq_t after,
                            std::int64_t cap) override {
    return r_.count_unread(c, root, u, after, cap);
  }
  std::int64_t count_mentions(user_id u, conv_id c, seq_t root, seq_t after,
                              std::int64_t cap) override {
    return r_.count_mentions(u, c, root, after, cap);
  }
  std::vector<search_hit> search_messages(user_id u, const search_query& q) override {
    return r_.search_messages(u, q);
  }
  std::optional<upload_info> find_upload(const std::string& id) override {
    return r_.find_upload(id);
  }
  std::vector<receipt> list_receipts(conv_id c, seq_t root) override {
    return r_.list_receipts(c, root);
  }
  seq_t find_delivered(user_id u, conv_id c) override { return r_.find_delivered(u, c); }
  user_prefs find_prefs(user_id u) override { return r_.find_prefs(u); }
  std::vector<user_id> list_contacts(user_id u) override { return r_.list_contacts(u); }
  bool owns_upload(user_id u, const std::string& id) override { return r_.owns_upload(u, id); }
  bool sees_upload(user_id u, const std::string& id) override { return r_.sees_upload(u, id); }
  std::vector<std::pair<seq_t, attachment>> list_attachments(conv_id c, seq_t from,
                                                             seq_t to) override {
    return r_.list_attachments(c, from, to);
  }

 private:
  read_txn& r_;
  event_cache* cache_;
};

// What one write job changed that the caches must learn after its commit.
struct write_record {
  int runs = 0;  // a job runs again only after its batch was rolled back
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
  recording_write(write_txn& t, write_record& rec, cached_store::members_cache& mc,
                  event_cache& cache, cached_store::fences& fenced)
      : forwarding_read<write_txn>(t, nullptr),
        w_(t),
        rec_(rec),
        mc_(mc),
        cache_(cache),
        fenced_(fenced) {}

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
  bool replace_token(device_id d, const std::string& th, std::int64_t exp) override {
    return w_.replace_token(d, th, exp);
  }
  void set_password(user_id u, const std::string& h) override { w_.set_password(u, h); }
  std::vector<device_id> delete_devices_of(user_id u, device_id keep) override {
    return w_.delete_devices_of(u, keep);
  }
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
    rewriting(c);
    return w_.prune_before(c, before);
  }
  void rewrite_event_data(conv_id c, seq_t seq, const std::string& data) override {
    // Now as well as after the commit: from the commit on, no reader may get the old data
    // from the cache.
    cache_.invalidate(c);
    rewriting(c);
    w_.rewrite_event_data(c, seq, data);
  }
  void insert_message(const message_state& m) override { w_.insert_message(m); }
  void append_message(event& ev, message_state& m) override {
    w_.append_message(ev, m);
    rec_.appended.push_back(ev);
  }
  void edit_message(conv_id c, seq_t seq, const std::string& text, std::int64_t ms,
                    seq_t edit_seq) override {
    w_.edit_message(c, seq, text, ms, edit_seq);
  }
  std::vector<seq_t> delete_message(conv_id c, seq_t seq, std::int64_t ms) override {
    return w_.delete_message(c, seq, ms);
  }
  bool add_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u,
                    std::int64_t ms) override {
    return w_.add_reaction(c, msg, emoji, u, ms);
  }
  bool remove_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u) override {
    return w_.remove_reaction(c, msg, emoji, u);
  }
  void add_thread_reply(conv_id c, seq_t root, user_id u, std::int64_t ms) override {
    w_.add_thread_reply(c, root, u, ms);
  }
  void remove_thread_reply(conv_id c, seq_t root) override { w_.remove_thread_reply(c, root); }
  bool set_follow(user_id u, conv_id c, seq_t root, bool following, bool only_if_unset) override {
    return w_.set_follow(u, c, root, following, only_if_unset);
  }
  bool advance_read_pointer(user_id u, conv_id c, seq_t root, seq_t seq) override {
    return w_.advance_read_pointer(u, c, root, seq);
  }
  std::size_t index_pending(std::size_t limit) override { return w_.index_pending(limit); }
  bool purge_search_index(std::size_t pages) override { return w_.purge_search_index(pages); }
  bool compact_search_index(std::size_t pages) override { return w_.compact_search_index(pages); }
  void set_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) override {
    w_.set_mentions(c, seq, users);
  }
  seq_t advance_delivered(device_id d, user_id u, conv_id c, seq_t seq) override {
    return w_.advance_delivered(d, u, c, seq);
  }
  void put_prefs(user_id u, bool private_receipts, bool invisible) override {
    w_.put_prefs(u, private_receipts, invisible);
  }
  void set_last_seen(user_id u, std::int64_t ms) override { w_.set_last_seen(u, ms); }
  void put_upload(const upload_info& u, user_id owner, std::int64_t now_ms) override {
    w_.put_upload(u, owner, now_ms);
  }
  void add_attachments(conv_id c, seq_t seq, const std::vector<attachment>& a) override {
    w_.add_attachments(c, seq, a);
  }
  std::vector<std::string> collect_uploads(std::int64_t cutoff_ms, std::size_t limit) override {
    return w_.collect_uploads(cutoff_ms, limit);
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
  // Until this write's `done`, earlier writes' `done` (which may run after this job: a
  // store acknowledges a batch once it is durable) must not put the conversation's old
  // events back into the cache.
  void rewriting(conv_id c) {
    rec_.rewritten.push_back(c);
    ++fenced_[c];
  }

  write_txn& w_;
  write_record& rec_;
  cached_store::members_cache& mc_;
  event_cache& cache_;
  cached_store::fences& fenced_;
};

// Lifts the fences a write's rewrites set (when its record of them is dropped).
void unfence(cached_store::fences& fenced, const write_record& rec) {
  for (auto c : rec.rewritten)
    if (auto it = fenced.find(c); it != fenced.end() && --it->second <= 0) fenced.erase(it);
}

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

cached_store::cached_store(store& inner, event_cache::options o, bool shared_database)
    : inner_(inner), cache_(o), shared_database_(shared_database) {}

void cached_store::write(write_fn fn, write_done done) {
  auto rec = std::make_shared<write_record>();
  inner_.write(
      [this, fn = std::move(fn), rec](write_txn& t) {
        if (rec->runs++ > 0) {
          // The batch was rolled back: what any of its jobs made the membership cache
          // believe may be gone.
          members_.clear();
          unfence(fenced_, *rec);
          *rec = write_record{rec->runs, {}, {}, {}};
        }
        if (shared_database_) members_.clear();  // never kept: other nodes write too
        recording_write w(t, *rec, members_, cache_, fenced_);
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
          unfence(fenced_, *rec);
          *rec = write_record{};
        }
        return e;
      },
      [this, rec, done = std::move(done)](const error& e) {
        // A write refused at once (a full queue, a stopped store) never ran, and this runs
        // on the caller's thread then (store.hpp), while the writer may be using the
        // caches: the job changed nothing in them, so nothing is touched.
        if (rec->runs == 0) return done(e);
        // Otherwise this runs on the writer thread once the commit is durable, in commit
        // order (later jobs may have run already).
        if (e.code != errc::ok) members_.clear();  // the batch may have rolled back
        for (auto c : rec->rewritten) cache_.invalidate(c);
        unfence(fenced_, *rec);
        if (e.code == errc::ok)
          for (auto& ev : rec->appended)
            if (!fenced_.contains(ev.conv)) cache_.append(std::move(ev));
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
