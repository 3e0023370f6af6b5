// libFuzzer target: bearer tokens as the server receives them. The input is the value of
// an Authorization header: once inside a request read by Beast's parser (as the listener
// reads it, so only what HTTP allows in a header arrives), once set directly (any bytes).
// http_common::bearer_token extracts the token and core/crypto's token_hash turns it into
// the key the store looks devices up by (service::authenticate).
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/crypto.hpp"
#include "transport/http_common.hpp"

namespace {

using namespace parley;
namespace beast = boost::beast;
namespace http = beast::http;

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "token_fuzz: broken promise: %s\n", what);
  std::abort();
}

template <class Request>
void check(const Request& req) {
  auto tok = http_common::bearer_token(req);
  auto it = req.find(http::field::authorization);
  expect(tok.has_value() == (it != req.end()), "a token iff an Authorization header");
  if (!tok) return;
  std::string_view v(it->value().data(), it->value().size());
  const bool bearer = v.size() > 7 && (v.starts_with("Bearer ") || v.starts_with("bearer "));
  expect(bearer ? *tok == v.substr(7) : tok->empty(), "the token is what follows Bearer");
  auto h = token_hash(*tok);
  expect(h.size() == 32, "a token hash is 32 bytes");
  expect(token_hash(std::string(*tok)) == h, "token_hash is a function");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_crypto();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // As received: a request header (header limit 16 KiB, as http_listener.cpp).
  std::string wire = "GET /v1/conversations HTTP/1.1\r\nHost: chat.example.com\r\nAuthorization: ";
  wire.append(in);
  wire += "\r\n\r\n";
  http::request_parser<http::empty_body> p;
  p.header_limit(16 * 1024);
  beast::error_code ec;
  p.put(boost::asio::buffer(wire), ec);
  if (!ec && p.is_header_done()) check(p.get());
  // Any bytes at all.
  http::request<http::string_body> req;
  req.set(http::field::authorization, beast::string_view(in.data(), in.size()));
  check(req);
  (void)token_hash(std::string(in));
  return 0;
}
