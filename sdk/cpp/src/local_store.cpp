#include "parley/sdk/local_store.hpp"

#include <random>

#include "store/sqlite/sqlite_db.hpp"

namespace parley::sdk {

struct local_store::impl {
  sqlite::db d;
  std::string prefix;
  explicit impl(const std::string& path) : d(path, false) {}
};

local_store::local_store(const std::string& path) : impl_(std::make_unique<impl>(path)) {
  auto& d = impl_->d;
  d.exec("PRAGMA journal_mode = WAL");
  d.exec("PRAGMA synchronous = NORMAL");
  d.exec(R"sql(
    CREATE TABLE IF NOT EXISTS outbox(n INTEGER PRIMARY KEY AUTOINCREMENT, conv INTEGER NOT NULL,
                                      client_msg_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS positions(conv INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);
  )sql");
  // Files from before replies and threads: add their columns.
  auto& cols = d.prepare("SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'thread'");
  cols.step();
  bool has_thread = cols.i64(0) > 0;
  cols.reset();
  if (!has_thread)
    d.exec(
        "ALTER TABLE outbox ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE outbox ADD COLUMN thread INTEGER NOT NULL DEFAULT 0;");
  // Files from before attachments.
  auto& acols =
      d.prepare("SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'attachments'");
  acols.step();
  bool has_attachments = acols.i64(0) > 0;
  acols.reset();
  if (!has_attachments)
    d.exec("ALTER TABLE outbox ADD COLUMN attachments TEXT NOT NULL DEFAULT ''");
  impl_->prefix = get("device_prefix");
  if (impl_->prefix.empty()) {
    std::random_device rd;
    static const char* hex = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) impl_->prefix += hex[rd() % 16];
    put("device_prefix", impl_->prefix);
  }
}

local_store::~local_store() = default;

std::string local_store::enqueue(std::int64_t conv, const std::string& text, std::int64_t reply_to,
                                 std::int64_t thread, const std::string& attachments) {
  auto& d = impl_->d;
  d.exec("BEGIN IMMEDIATE");
  try {
    // The counter lives in kv so ids stay unique after the outbox empties.
    auto& c = d.prepare(
        "INSERT INTO kv(k, v) VALUES ('counter', '1') ON CONFLICT(k) DO UPDATE SET v = "
        "CAST(v AS INTEGER) + 1 RETURNING v");
    c.step();
    auto counter = c.text(0);
    c.reset();
    std::string cmid = impl_->prefix + ":" + counter;
    d.prepare(
         "INSERT INTO outbox(conv, client_msg_id, text, reply_to, thread, attachments) "
         "VALUES (?,?,?,?,?,?)")
        .bind(1, conv)
        .bind(2, cmid)
        .bind(3, text)
        .bind(4, reply_to)
        .bind(5, thread)
        .bind(6, attachments)
        .run();
    d.reset_all();
    d.exec("COMMIT");
    return cmid;
  } catch (...) {
    d.reset_all();
    d.exec("ROLLBACK");
    throw;
  }
}

std::vector<outbox_entry> local_store::pending() const {
  auto& s = impl_->d.prepare(
      "SELECT conv, client_msg_id, text, reply_to, thread, attachments FROM outbox ORDER BY n");
  std::vector<outbox_entry> out;
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.text(2), s.i64(3), s.i64(4), s.text(5)});
  s.reset();
  return out;
}

std::size_t local_store::pending_count() const {
  auto& s = impl_->d.prepare("SELECT COUNT(*) FROM outbox");
  s.step();
  auto n = static_cast<std::size_t>(s.i64(0));
  s.reset();
  return n;
}

void local_store::remove(const std::string& client_msg_id) {
  impl_->d.prepare("DELETE FROM outbox WHERE client_msg_id = ?").bind(1, client_msg_id).run();
}

std::unordered_map<std::int64_t, std::int64_t> local_store::positions() const {
  auto& s = impl_->d.prepare("SELECT conv, seq FROM positions");
  std::unordered_map<std::int64_t, std::int64_t> out;
  while (s.step()) out[s.i64(0)] = s.i64(1);
  s.reset();
  return out;
}

void local_store::save_positions(const std::unordered_map<std::int64_t, std::int64_t>& changed) {
  if (changed.empty()) return;
  auto& d = impl_->d;
  d.exec("BEGIN IMMEDIATE");
  try {
    for (const auto& [conv, seq] : changed)
      d.prepare(
           "INSERT INTO positions(conv, seq) VALUES (?, ?) ON CONFLICT(conv) DO UPDATE SET seq = "
           "MAX(seq, excluded.seq)")
          .bind(1, conv)
          .bind(2, seq)
          .run();
    d.exec("COMMIT");
  } catch (...) {
    d.reset_all();
    d.exec("ROLLBACK");
    throw;
  }
}

void local_store::reset_position(std::int64_t conv, std::int64_t seq) {
  impl_->d
      .prepare(
          "INSERT INTO positions(conv, seq) VALUES (?, ?) ON CONFLICT(conv) DO UPDATE SET seq = "
          "excluded.seq")
      .bind(1, conv)
      .bind(2, seq)
      .run();
}

void local_store::put(const std::string& key, const std::string& value) {
  impl_->d.prepare("INSERT INTO kv(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v")
      .bind(1, key)
      .bind(2, value)
      .run();
}

std::string local_store::get(const std::string& key) const {
  auto& s = impl_->d.prepare("SELECT v FROM kv WHERE k = ?");
  s.bind(1, key);
  std::string v = s.step() ? s.text(0) : std::string();
  s.reset();
  return v;
}

}  // namespace parley::sdk
