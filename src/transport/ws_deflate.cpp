#include "transport/ws_deflate.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <cctype>
#include <vector>

namespace parley {

namespace beast = boost::beast;
namespace zlib = beast::zlib;
namespace http = beast::http;

namespace {

// zlib's memory level: 4 makes the hash table 4 KB, cleared before every message (at
// the default 8 it is 64 KB), and compresses chat-sized messages as well as 8 does.
constexpr int kMemLevel = 4;
constexpr std::size_t kRemembered = 16;  // compressed messages remembered per thread
constexpr std::size_t kInflateChunk = 16 * 1024;

}  // namespace

namespace {

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Splits `v` at `sep` outside double quotes.
std::vector<std::string_view> split(std::string_view v, char sep) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '"') quoted = !quoted;
    if (v[i] == sep && !quoted) {
      out.push_back(trim(v.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim(v.substr(start)));
  return out;
}

// A window size parameter's value (quotes allowed), 9..15; 0 if absent or invalid (8 is
// refused: zlib cannot deflate with a 256-byte window).
int window_bits(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    value = value.substr(1, value.size() - 2);
  if (value.size() == 1 && value[0] >= '8' && value[0] <= '9') return value[0] == '9' ? 9 : 0;
  if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5')
    return 10 + (value[1] - '0');
  return 0;
}

}  // namespace

// RFC 7692 section 7: the first permessage-deflate offer whose parameters are all known,
// well-formed and given once is accepted; an offer that breaks any rule is declined and
// the next one considered.
deflate_agreement negotiate_deflate(const http::request<http::string_body>& req,
                                    const deflate_settings& s, std::string& header) {
  header.clear();
  deflate_agreement a;
  if (!s.enabled) return a;
  auto [first, last] = req.equal_range(http::field::sec_websocket_extensions);
  for (auto field = first; field != last; ++field) {
    auto value = field->value();
    for (auto offer : split(std::string_view(value.data(), value.size()), ',')) {
      auto parts = split(offer, ';');
      if (!boost::beast::iequals(parts[0], "permessage-deflate")) continue;
      bool ok = true, snct = false, cnct = false, cmwb = false;
      int smwb = 0;  // requested server window; 0: none
      for (std::size_t i = 1; i < parts.size() && ok; ++i) {
        auto eq = parts[i].find('=');
        auto name = trim(parts[i].substr(0, eq));
        auto value =
            eq == std::string_view::npos ? std::string_view() : trim(parts[i].substr(eq + 1));
        const bool has_value = eq != std::string_view::npos;
        if (boost::beast::iequals(name, "server_no_context_takeover")) {
          ok = !snct && !has_value;
          snct = true;
        } else if (boost::beast::iequals(name, "client_no_context_takeover")) {
          ok = !cnct && !has_value;
          cnct = true;
        } else if (boost::beast::iequals(name, "server_max_window_bits")) {
          ok = smwb == 0 && has_value && (smwb = window_bits(value)) != 0;
        } else if (boost::beast::iequals(name, "client_max_window_bits")) {
          ok = !cmwb && (!has_value || window_bits(value) != 0 || value == "8" || value == "\"8\"");
          cmwb = true;
        } else {
          ok = false;  // not a parameter of this extension
        }
      }
      if (!ok) continue;
      a.on = true;
      a.server_window_bits = smwb ? smwb : 15;
      // Parley never keeps compression state between messages, and its inflater takes any
      // window up to 15 bits, so client_max_window_bits needs no answer.
      header = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
      if (smwb && smwb < 15) header += "; server_max_window_bits=" + std::to_string(smwb);
      return a;
    }
  }
  return a;
}

struct ws_deflater::impl {
  struct entry {
    std::vector<std::shared_ptr<const std::string>> frames;  // held: their addresses are keys
    int window_bits = 0, level = 0;
    std::shared_ptr<const std::string> out;  // null: compressing did not pay
  };
  zlib::deflate_stream z;
  int window_bits = 0, level = 0;
  std::array<entry, kRemembered> memory;
  std::size_t next = 0;  // the slot replaced next (oldest first)

  const entry* find(std::span<const std::shared_ptr<const std::string>> frames, int wb, int lv) {
    for (const auto& e : memory) {
      if (e.window_bits != wb || e.level != lv || e.frames.size() != frames.size()) continue;
      if (std::equal(e.frames.begin(), e.frames.end(), frames.begin())) return &e;
    }
    return nullptr;
  }
};

ws_deflater::ws_deflater() : impl_(std::make_unique<impl>()) {}
ws_deflater::~ws_deflater() = default;

std::shared_ptr<const std::string> ws_deflater::compress(
    std::span<const std::shared_ptr<const std::string>> frames, std::string_view bytes,
    int window_bits, int level) {
  auto& m = *impl_;
  if (const auto* e = m.find(frames, window_bits, level)) {
    ++reused_;
    return e->out;
  }
  if (m.window_bits != window_bits || m.level != level) {
    m.z.reset(level, window_bits, kMemLevel, zlib::Strategy::normal);
    m.window_bits = window_bits;
    m.level = level;
  } else {
    m.z.reset();  // no context takeover: every message starts afresh
  }
  // Room for everything: deflate's bound plus the sync flush's empty block.
  std::string out(m.z.upper_bound(bytes.size()) + 16, '\0');
  zlib::z_params zs;
  zs.next_in = bytes.data();
  zs.avail_in = bytes.size();
  zs.next_out = out.data();
  zs.avail_out = out.size();
  beast::error_code ec;
  m.z.write(zs, zlib::Flush::sync, ec);
  std::shared_ptr<const std::string> result;
  // A sync flush ends with 00 00 FF FF, which the message leaves out (RFC 7692 7.2.1).
  if ((!ec || ec == zlib::error::need_buffers) && zs.avail_in == 0 && zs.total_out >= 4 &&
      zs.total_out - 4 < bytes.size()) {
    out.resize(zs.total_out - 4);
    result = std::make_shared<const std::string>(std::move(out));
  }
  ++compressed_;
  auto& slot = m.memory[m.next];
  m.next = (m.next + 1) % kRemembered;
  slot.frames.assign(frames.begin(), frames.end());
  slot.window_bits = window_bits;
  slot.level = level;
  slot.out = result;
  return result;
}

struct ws_inflater::impl {
  zlib::inflate_stream z;
  std::array<char, kInflateChunk> sink;  // output past what the caller keeps
};

ws_inflater::ws_inflater() : impl_(std::make_unique<impl>()) {}
ws_inflater::~ws_inflater() = default;

ws_inflater::result ws_inflater::inflate(std::string_view payload, std::size_t keep,
                                         std::size_t hard, std::string& out, std::size_t& size) {
  auto& m = *impl_;
  m.z.reset(15);  // no context takeover; a smaller window from the client fits in 15
  static constexpr std::uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  out.clear();
  size = 0;
  std::string_view inputs[2] = {payload, {reinterpret_cast<const char*>(tail), sizeof tail}};
  for (auto in : inputs) {
    zlib::z_params zs;
    zs.next_in = in.data();
    zs.avail_in = in.size();
    for (;;) {
      char* dst;
      std::size_t room;
      if (out.size() < keep) {
        std::size_t have = out.size();
        out.resize(std::min(keep, have + kInflateChunk));
        dst = out.data() + have;
        room = out.size() - have;
      } else {
        dst = m.sink.data();
        room = m.sink.size();
      }
      zs.next_out = dst;
      zs.avail_out = room;
      zs.total_out = 0;
      beast::error_code ec;
      m.z.write(zs, zlib::Flush::sync, ec);
      std::size_t made = zs.total_out;
      if (dst != m.sink.data()) out.resize(out.size() - (room - made));
      size += made;
      if (size > hard) return result::too_big;
      if (ec == zlib::error::end_of_stream)
        return result::ok;  // a final block: the rest is
                            // the tail we appended
      if (ec && ec != zlib::error::need_buffers) return result::bad_data;
      if (zs.avail_in == 0 && zs.avail_out > 0) break;             // this input is all inflated
      if (made == 0 && zs.avail_out > 0) return result::bad_data;  // no progress
    }
  }
  return result::ok;
}

}  // namespace parley
