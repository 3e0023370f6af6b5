// libFuzzer target: permessage-deflate (transport/ws_deflate.hpp), the part of the WebSocket
// transport that reads client bytes without a socket.
//
// The input is, in turn:
// - the Sec-WebSocket-Extensions header of an upgrade request (one field per line, at
//   most 8) for negotiate_deflate;
// - a compressed message payload for ws_inflater, with small limits (keep 1 KiB, stop after
//   64 KiB), checked against the same payload inflated with everything kept;
// - a message the server sends: ws_deflater's output must inflate back to it (window bits
//   and level taken from the input).
// The deflater and the inflater live as long as the process, as they live as long as their
// I/O thread in the server, so state left behind by one input would show in the next.
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/ws_deflate.hpp"

namespace {

using namespace parley;
namespace http = boost::beast::http;

constexpr std::size_t kKeep = 1024, kHard = 65536;

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "ws_deflate_fuzz: broken promise: %s\n", what);
  std::abort();
}

void negotiate(std::string_view in) {
  http::request<http::string_body> req;
  for (int fields = 0; fields < 8 && !in.empty(); ++fields) {
    auto nl = in.find('\n');
    auto line = in.substr(0, nl);
    req.insert(http::field::sec_websocket_extensions, {line.data(), line.size()});
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  }
  std::string header;
  auto a = negotiate_deflate(req, deflate_settings{}, header);
  if (!a.on) {
    expect(header.empty(), "no agreement, no header");
    return;
  }
  expect(a.server_window_bits >= 9 && a.server_window_bits <= 15, "window bits 9..15");
  std::string expected =
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  if (a.server_window_bits < 15)
    expected += "; server_max_window_bits=" + std::to_string(a.server_window_bits);
  expect(header == expected, "the agreed header");
}

void inflate(ws_inflater& z, std::string_view payload) {
  std::string out, all;
  std::size_t size = 0, all_size = 0;
  auto r = z.inflate(payload, kKeep, kHard, out, size);
  if (r == ws_inflater::result::too_big) {
    expect(size > kHard && out.size() <= kKeep, "too_big past the hard limit only");
    // A bomb costs at most one chunk (16 KiB) past the limit.
    expect(size <= kHard + 16 * 1024, "inflation stops at the hard limit");
  }
  if (r != ws_inflater::result::ok) return;
  expect(size <= kHard && out.size() == std::min(size, kKeep), "ok: the size and what is kept");
  auto r2 = z.inflate(payload, kHard, kHard, all, all_size);
  expect(r2 == ws_inflater::result::ok && all_size == size && all.size() == size,
         "inflating again gives the same size");
  expect(all.compare(0, out.size(), out) == 0, "what is kept is the start of the message");
}

void round_trip(ws_deflater& d, ws_inflater& z, std::string_view msg, int window_bits, int level) {
  std::vector<std::shared_ptr<const std::string>> frames{std::make_shared<const std::string>(msg)};
  auto packed = d.compress(frames, msg, window_bits, level);
  if (!packed) return;  // compressing would not make it smaller
  expect(packed->size() < msg.size(), "compressed only when smaller");
  std::string out;
  std::size_t size = 0;
  auto r = z.inflate(*packed, msg.size(), msg.size() + 1, out, size);
  expect(r == ws_inflater::result::ok && out == msg && size == msg.size(),
         "what the server compresses inflates back to the message");
  // The same shared frame again: the remembered result.
  expect(d.compress(frames, msg, window_bits, level) == packed, "a frame is compressed once");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ws_deflater deflater;
  static ws_inflater inflater;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  negotiate(in);
  inflate(inflater, in);
  if (size > 0)
    round_trip(deflater, inflater, in, 9 + data[0] % 7, 1 + (size > 1 ? data[1] % 9 : 0));
  return 0;
}
