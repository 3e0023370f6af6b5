#include "bus/bus_codec.hpp"

#include <cstring>

#include "core/codec.hpp"

namespace parley::bus_codec {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_i64(std::string& out, std::int64_t s) {
  auto v = static_cast<std::uint64_t>(s);
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads from a message; any read past its end sets `bad` and returns zeros.
struct reader {
  std::string_view in;
  bool bad = false;

  bool take(std::size_t n, const char*& p) {
    if (bad || in.size() < n) {
      bad = true;
      return false;
    }
    p = in.data();
    in.remove_prefix(n);
    return true;
  }
  std::uint32_t u32() {
    const char* p;
    if (!take(4, p)) return 0;
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  std::int64_t i64() {
    const char* p;
    if (!take(8, p)) return 0;
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return static_cast<std::int64_t>(v);
  }
  std::string str() {
    auto n = u32();
    const char* p;
    if (!take(n, p)) return {};
    return std::string(p, n);
  }
  // A count of items that take at least `min_bytes` each: more than the rest of the
  // message could hold is malformed (and would allocate without bound).
  std::uint32_t count(std::size_t min_bytes) {
    auto n = u32();
    if (static_cast<std::size_t>(n) * min_bytes > in.size()) bad = true;
    return bad ? 0 : n;
  }
};

}  // namespace

std::string encode_events(const std::vector<committed_event_ptr>& events) {
  std::string out;
  std::size_t size = 5;
  for (const auto& ce : events)
    size += 56 + ce->ev.id.size() + ce->ev.type.size() + ce->ev.client_msg_id.size() +
            ce->ev.data.size() + 8 * ce->recipients.size();
  out.reserve(size);
  out += 'E';
  put_u32(out, static_cast<std::uint32_t>(events.size()));
  for (const auto& ce : events) {
    const auto& e = ce->ev;
    put_i64(out, e.conv);
    put_i64(out, e.seq);
    put_i64(out, e.ts_ms);
    put_i64(out, e.sender);
    put_str(out, e.id);
    put_str(out, e.type);
    put_str(out, e.client_msg_id);
    put_str(out, e.data);
    put_u32(out, static_cast<std::uint32_t>(ce->recipients.size()));
    for (auto u : ce->recipients) put_i64(out, u);
  }
  return out;
}

std::optional<std::vector<committed_event_ptr>> decode_events(std::string_view bytes) {
  if (bytes.empty() || bytes[0] != 'E') return std::nullopt;
  reader r{bytes.substr(1)};
  auto n = r.count(52);
  std::vector<committed_event_ptr> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n && !r.bad; ++i) {
    auto ce = std::make_shared<committed_event>();
    auto& e = ce->ev;
    e.conv = r.i64();
    e.seq = r.i64();
    e.ts_ms = r.i64();
    e.sender = r.i64();
    e.id = r.str();
    e.type = r.str();
    e.client_msg_id = r.str();
    e.data = r.str();
    auto k = r.count(8);
    ce->recipients.reserve(k);
    for (std::uint32_t j = 0; j < k; ++j) ce->recipients.push_back(r.i64());
    if (r.bad || e.conv <= 0 || e.seq <= 0) return std::nullopt;
    ce->frame = std::make_shared<const std::string>(encode_event_frame(e));
    out.push_back(std::move(ce));
  }
  if (r.bad || !r.in.empty()) return std::nullopt;
  return out;
}

std::string encode_notice(const std::vector<user_id>& users, const std::string& frame) {
  std::string out;
  out.reserve(9 + 8 * users.size() + frame.size());
  out += 'N';
  put_u32(out, static_cast<std::uint32_t>(users.size()));
  for (auto u : users) put_i64(out, u);
  put_str(out, frame);
  return out;
}

std::optional<notice> decode_notice(std::string_view bytes) {
  if (bytes.empty() || bytes[0] != 'N') return std::nullopt;
  reader r{bytes.substr(1)};
  notice out;
  auto n = r.count(8);
  out.users.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) out.users.push_back(r.i64());
  auto f = r.str();
  if (r.bad || !r.in.empty()) return std::nullopt;
  out.frame = std::make_shared<const std::string>(std::move(f));
  return out;
}

}  // namespace parley::bus_codec
