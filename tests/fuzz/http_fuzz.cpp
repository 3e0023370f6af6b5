// libFuzzer target: one HTTP request as the listener reads it (transport/http_listener.cpp),
// then Parley's own code that reads requests, without sockets.
//
// The bytes go through Beast's request parser exactly as the listener drives it: the
// header first (request_parser<empty_body>, header limit 16 KiB), then the body with the
// default body limit (request_parser<string_body>, 64 KiB). The input arrives in pieces of
// at most 61 bytes, so the parser also resumes mid-line. Then, on what was parsed:
// origin_allowed (three settings), match_route with its query string and the JSON body
// merge of http_listener's handle(), the SSE/poll cursor (query_value and
// session::parse_cursor_token, also from Last-Event-ID), bearer_token, parse_byte_range
// and content_disposition, and for a WebSocket upgrade negotiate_deflate and Beast's
// handshake check on a captured stream (as ws_connection.cpp's upgrade_response does).
//
// Not covered: ws_connection.cpp's RFC 6455 frame parser and its UTF-8 validator are members
// of a socket-bound class in an unnamed namespace; they cannot be called without a socket.
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/session.hpp"
#include "transport/http_common.hpp"
#include "transport/origin.hpp"
#include "transport/rest_routes.hpp"
#include "transport/ws_deflate.hpp"

namespace {

using namespace parley;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::size_t kHeaderLimit = 16 * 1024;  // http_listener.cpp
constexpr std::uint64_t kBodyLimit = 65536;      // limits.max_http_body_bytes
constexpr std::size_t kPiece = 61;               // bytes per read

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "http_fuzz: broken promise: %s\n", what);
  std::abort();
}

std::string_view sv(beast::string_view v) {
  return {v.data(), v.size()};
}

// A socket that holds the fuzz input: each read returns the next piece of it.
class input_stream {
 public:
  explicit input_stream(std::string_view in) : in_(in) {}
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& bs, beast::error_code& ec) {
    ec = {};
    if (in_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    auto n = asio::buffer_copy(bs, asio::buffer(in_.data(), std::min(in_.size(), kPiece)));
    in_.remove_prefix(n);
    return n;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& bs) {
    beast::error_code ec;
    auto n = read_some(bs, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view in_;
};

// Collects what is written to it (ws_connection.cpp's capture_stream): Beast's accept()
// checks the upgrade request and writes its response here.
class capture_stream {
 public:
  using executor_type = asio::io_context::executor_type;
  capture_stream(executor_type ex, std::string* out) : ex_(ex), out_(out) {}
  executor_type get_executor() const noexcept { return ex_; }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers&, beast::error_code& ec) {
    ec = asio::error::eof;
    return 0;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers&) {
    throw beast::system_error(asio::error::eof);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& bs, beast::error_code& ec) {
    ec = {};
    std::size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(bs); it != asio::buffer_sequence_end(bs); ++it) {
      asio::const_buffer b(*it);
      out_->append(static_cast<const char*>(b.data()), b.size());
      n += b.size();
    }
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& bs) {
    beast::error_code ec;
    return write_some(bs, ec);
  }

 private:
  executor_type ex_;
  std::string* out_;
};

asio::io_context& io() {
  static asio::io_context ctx;
  return ctx;
}

// http_live.cpp's cursor: parse_cursor_token, and what it parsed turned back into a token
// parses to the same positions.
void check_cursor(std::string_view cursor) {
  json::object since;
  if (!session::parse_cursor_token(cursor, since)) return;
  std::string token;
  for (const auto& [k, v] : since) {
    expect(v.is_int64() && v.get_int64() >= 0, "a cursor's seq is an integer >= 0");
    expect(!k.empty() && k[0] != '0' && k[0] != '-', "a cursor's conversation is > 0");
    if (!token.empty()) token += '-';
    token += std::string(k) + "." + std::to_string(v.get_int64());
  }
  json::object again;
  expect(session::parse_cursor_token(token, again) && again == since, "cursor round trip");
}

void check_header(const http::request_parser<http::empty_body>& hp) {
  const auto& h = hp.get();
  auto origin = sv(h[http::field::origin]), host = sv(h[http::field::host]);
  for (std::string_view allowed : {"", "*", "https://chat.example.com, http://localhost:8080"}) {
    bool ok = origin_allowed(allowed, origin, host);
    if (origin.empty() || allowed == "*") expect(ok, "no Origin, or *, is allowed");
  }
  auto target = sv(h.target());
  check_cursor(query_value(target, "cursor"));
  check_cursor(sv(h["Last-Event-ID"]));
  (void)query_value(target, "timeout_ms");
  // Downloads: a Range header against a few sizes.
  auto range = sv(h[http::field::range]);
  for (std::uint64_t size :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{1} << 40}) {
    std::uint64_t first = 0, last = 0;
    if (parse_byte_range(range, size, first, last) == range_status::partial)
      expect(first <= last && last < size, "a partial range lies within the content");
  }
}

// http_listener.cpp's handle(): the route, then the JSON body merged into its arguments.
void check_route(const http::request<http::string_body>& req) {
  route_match m;
  auto st = match_route(sv(req.method_string()), sv(req.target()), m);
  if (st != route_status::ok) return;
  expect(!m.op.empty(), "a route names an operation");
  for (const auto& [k, v] : m.args) {
    expect(v.is_string(), "path and query arguments are strings");
    // A path parameter or query value may become a download's file name.
    auto cd = content_disposition(false, v.get_string());
    for (unsigned char c : cd) expect(c >= 0x20 && c < 0x7F, "Content-Disposition is plain ASCII");
  }
  if (m.takes_body && !req.body().empty()) {
    json::parse_options po;
    po.max_depth = 32;
    boost::system::error_code ec;
    auto v = json::parse(req.body(), ec, {}, po);
    if (ec || !v.is_object()) return;
    for (auto& [k, val] : v.get_object())
      if (!m.args.contains(k)) m.args[k] = val;
  }
}

// ws_connection.cpp: the deflate offer, then Beast's check of the upgrade request.
void check_upgrade(const http::request<http::string_body>& req) {
  std::string extensions;
  auto a = negotiate_deflate(req, deflate_settings{}, extensions);
  if (a.on) {
    expect(a.server_window_bits >= 9 && a.server_window_bits <= 15, "window bits 9..15");
    expect(extensions.starts_with("permessage-deflate; server_no_context_takeover; "
                                  "client_no_context_takeover"),
           "the agreement never keeps context");
  } else {
    expect(extensions.empty(), "no agreement, no header");
  }
  std::string off_header;
  expect(
      !negotiate_deflate(req, deflate_settings{false, 256, 1}, off_header).on && off_header.empty(),
      "permessage_deflate = off");
  std::string out;
  websocket::stream<capture_stream> hs(io().get_executor(), &out);
  hs.set_option(websocket::stream_base::decorator([&extensions](websocket::response_type& res) {
    res.set(http::field::server, "parley");
    if (res.result() == http::status::switching_protocols && !extensions.empty())
      res.set(http::field::sec_websocket_extensions, extensions);
  }));
  beast::error_code rejected;
  hs.accept(req, rejected);
  expect(out.starts_with("HTTP/"), "the handshake is answered");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_stream in(std::string_view(reinterpret_cast<const char*>(data), size));
  beast::flat_buffer buf;
  http::request_parser<http::empty_body> hp;
  hp.header_limit(kHeaderLimit);
  hp.body_limit(boost::none);
  beast::error_code ec;
  http::read_header(in, buf, hp, ec);
  if (ec) return 0;
  check_header(hp);
  (void)http_common::bearer_token(hp.get());
  if (hp.content_length().value_or(0) > kBodyLimit) return 0;
  http::request_parser<http::string_body> parser{std::move(hp)};
  parser.body_limit(kBodyLimit);
  http::read(in, buf, parser, ec);
  if (ec) return 0;
  auto req = parser.release();
  expect(req.body().size() <= kBodyLimit, "the body limit holds");
  if (auto tok = http_common::bearer_token(req)) {
    auto auth = sv(req[http::field::authorization]);
    expect(tok->empty() || auth.substr(7) == *tok, "the token is what follows Bearer");
  }
  if (websocket::is_upgrade(req)) {
    check_upgrade(req);
  } else {
    check_route(req);
  }
  return 0;
}
