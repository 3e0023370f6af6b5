// Private to src/transport: permessage-deflate (RFC 7692) for the WebSocket transport.
//
// Parley always negotiates "server_no_context_takeover; client_no_context_takeover": each
// message is compressed and inflated on its own, so a connection keeps no compression
// state at all (zlib's windows would cost about 300 KB per connection with context
// takeover). The compressor and the decompressor belong to the I/O thread, and a message
// is compressed once per thread however many connections it goes to: the compressor
// remembers its recent results by the shared frames they were made of.
//
// Contract: one ws_deflater and one ws_inflater per thread; neither is thread-safe.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

struct deflate_settings {
  bool enabled = true;
  std::size_t min_bytes = 256;  // smaller messages go out uncompressed
  int level = 1;                // zlib level 1..9
};

// What the handshake agreed on; `on` is false when the client offered nothing acceptable.
struct deflate_agreement {
  bool on = false;
  int server_window_bits = 15;  // the client may ask for a smaller window (9..15)
};

// The extension the response to `req` must announce and its parameters: sets `header` to
// the Sec-WebSocket-Extensions value (empty when not negotiated).
deflate_agreement negotiate_deflate(
    const boost::beast::http::request<boost::beast::http::string_body>& req,
    const deflate_settings& s, std::string& header);

class ws_deflater {
 public:
  ws_deflater();
  ~ws_deflater();
  ws_deflater(const ws_deflater&) = delete;
  ws_deflater& operator=(const ws_deflater&) = delete;

  // The permessage-deflate payload of the message made of `frames` joined by '\n' (`bytes`
  // holds that message), or null when compressing would not make it smaller. The result
  // of the same frames (the same shared buffers, in the same order) is reused.
  std::shared_ptr<const std::string> compress(
      std::span<const std::shared_ptr<const std::string>> frames, std::string_view bytes,
      int window_bits, int level);

  std::uint64_t compressed_total() const { return compressed_; }  // messages compressed
  std::uint64_t reused_total() const { return reused_; }          // served from the memory

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::uint64_t compressed_ = 0, reused_ = 0;
};

class ws_inflater {
 public:
  enum class result { ok, too_big, bad_data };
  ws_inflater();
  ~ws_inflater();
  ws_inflater(const ws_inflater&) = delete;
  ws_inflater& operator=(const ws_inflater&) = delete;

  // Inflates one message's payload. The first `keep` inflated bytes go to `out`; inflating
  // stops with too_big once more than `hard` bytes came out (a decompression bomb costs at
  // most `hard` bytes of work). `size` is the inflated size (up to where it stopped).
  result inflate(std::string_view payload, std::size_t keep, std::size_t hard, std::string& out,
                 std::size_t& size);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley
