#include "parley/sdk/files.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "wire_error.hpp"

namespace parley::sdk {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kChunk = 64 * 1024;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// The typed error of a non-2xx reply.
error reply_error(int status, const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* eo = v.as_object().if_contains("error"); eo && eo->is_object())
      return error_from(eo->as_object());
  return make_error(errc_from_http_status(status), "HTTP " + std::to_string(status));
}

error io_failure(const std::string& what, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return make_error(errc::internal, what + ": timed out");
  return make_error(errc::internal, what + ": " + ec.message());
}

std::string file_sha256(int fd) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::vector<unsigned char> buf(kChunk);
  off_t off = 0;
  for (;;) {
    auto n = ::pread(fd, buf.data(), buf.size(), off);
    if (n <= 0) break;
    crypto_hash_sha256_update(&st, buf.data(), static_cast<std::size_t>(n));
    off += n;
  }
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto b : d) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

asio::awaitable<std::optional<beast::tcp_stream>> connect(const file_endpoint& ep, error& err) {
  auto ex = co_await asio::this_coro::executor;
  beast::error_code ec;
  auto tok = asio::redirect_error(asio::use_awaitable, ec);
  tcp::resolver resolver(ex);
  auto eps = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), tok);
  if (ec) {
    err = io_failure("cannot resolve " + ep.host, ec);
    co_return std::nullopt;
  }
  beast::tcp_stream s(ex);
  s.expires_after(ep.timeout);  // one deadline for the whole transfer
  co_await s.async_connect(eps, tok);
  if (ec) {
    err = io_failure("cannot connect to " + ep.host + ":" + std::to_string(ep.port), ec);
    co_return std::nullopt;
  }
  co_return std::optional<beast::tcp_stream>(std::move(s));
}

asio::awaitable<void> do_upload(file_endpoint ep, int fd, std::uint64_t size,
                                std::optional<result<attachment>>& out) {
  error err;
  auto s = co_await connect(ep, err);
  if (!s) {
    out = err;
    co_return;
  }
  beast::error_code ec;
  auto tok = asio::redirect_error(asio::use_awaitable, ec);
  http::request<http::empty_body> req{http::verb::post, "/v1/uploads", 11};
  req.set(http::field::host, ep.host);
  req.set(http::field::user_agent, "parley-sdk");
  req.set(http::field::authorization, "Bearer " + ep.token);
  req.set(http::field::content_type, "application/octet-stream");
  // The server answers a refusal (too large, not logged in) before the body is sent.
  req.set(http::field::expect, "100-continue");
  req.content_length(size);
  req.keep_alive(false);
  http::request_serializer<http::empty_body> sr{req};
  co_await http::async_write_header(*s, sr, tok);
  beast::flat_buffer b;
  auto p = std::make_unique<http::response_parser<http::string_body>>();
  p->body_limit(1 << 20);
  if (!ec) co_await http::async_read(*s, b, *p, tok);
  if (ec) {
    out = io_failure("uploading", ec);
    co_return;
  }
  if (p->get().result() == http::status::continue_) {
    std::vector<char> buf(kChunk);
    std::uint64_t off = 0;
    while (off < size) {
      auto n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
      if (n <= 0) {
        out = make_error(errc::internal, "the file changed while it was uploaded");
        co_return;
      }
      co_await asio::async_write(*s, asio::buffer(buf.data(), static_cast<std::size_t>(n)), tok);
      if (ec) break;  // the server may have answered and closed: read its reply
      off += static_cast<std::uint64_t>(n);
    }
    p = std::make_unique<http::response_parser<http::string_body>>();
    p->body_limit(1 << 20);
    co_await http::async_read(*s, b, *p, tok);
    if (ec) {
      out = io_failure("uploading", ec);
      co_return;
    }
  }
  int status = static_cast<int>(p->get().result_int());
  if (status != 200) {
    out = reply_error(status, p->get().body());
    co_return;
  }
  boost::system::error_code pec;
  auto v = json::parse(p->get().body(), pec);
  if (pec || !v.is_object() || !v.as_object().contains("upload")) {
    out = make_error(errc::internal, "the server's reply to an upload is not {\"upload\":...}");
    co_return;
  }
  const auto& u = v.as_object().at("upload").as_object();
  attachment a;
  a.id = u.at("id").as_string();
  a.size = u.at("size").as_int64();
  a.type = u.at("type").as_string();
  if (auto w = u.if_contains("width")) a.width = static_cast<int>(w->as_int64());
  if (auto h = u.if_contains("height")) a.height = static_cast<int>(h->as_int64());
  out = std::move(a);
}

asio::awaitable<void> do_download(file_endpoint ep, std::string id, int fd,
                                  std::optional<result<std::int64_t>>& out) {
  struct stat st;
  ::fstat(fd, &st);
  auto have = static_cast<std::uint64_t>(st.st_size);  // from an interrupted download
  error err;
  auto s = co_await connect(ep, err);
  if (!s) {
    out = err;
    co_return;
  }
  beast::error_code ec;
  auto tok = asio::redirect_error(asio::use_awaitable, ec);
  http::request<http::empty_body> req{http::verb::get, "/v1/uploads/" + id, 11};
  req.set(http::field::host, ep.host);
  req.set(http::field::user_agent, "parley-sdk");
  req.set(http::field::authorization, "Bearer " + ep.token);
  if (have > 0) req.set(http::field::range, "bytes=" + std::to_string(have) + "-");
  req.keep_alive(false);
  co_await http::async_write(*s, req, tok);
  beast::flat_buffer b;
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);
  if (!ec) co_await http::async_read_header(*s, b, p, tok);
  if (ec) {
    out = io_failure("downloading", ec);
    co_return;
  }
  int status = static_cast<int>(p.get().result_int());
  bool done_already = status == 416 && have > 0;  // the .part holds everything
  bool collect_error = status != 200 && status != 206 && !done_already;
  if (status == 200 && have > 0) {  // whole content: start over
    if (::ftruncate(fd, 0) != 0) {
      out = make_error(errc::internal, std::string("cannot truncate: ") + std::strerror(errno));
      co_return;
    }
    have = 0;
  }
  std::vector<char> buf(kChunk);
  std::string error_body;
  off_t off = static_cast<off_t>(have);
  while (!p.is_done() && !done_already) {
    p.get().body().data = buf.data();
    p.get().body().size = buf.size();
    co_await http::async_read(*s, b, p, tok);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      out = io_failure("downloading", ec);  // the .part keeps what arrived
      co_return;
    }
    auto n = buf.size() - p.get().body().size;
    if (collect_error) {
      if (error_body.size() < (1 << 16)) error_body.append(buf.data(), n);
      continue;
    }
    for (std::size_t w = 0; w < n;) {
      auto k = ::pwrite(fd, buf.data() + w, n - w, off);
      if (k < 0) {
        out = make_error(errc::internal, std::string("cannot write: ") + std::strerror(errno));
        co_return;
      }
      w += static_cast<std::size_t>(k);
      off += k;
    }
  }
  if (collect_error) {
    out = reply_error(status, error_body);
    co_return;
  }
  out = static_cast<std::int64_t>(off);
}

}  // namespace

result<attachment> upload_file(const file_endpoint& ep, const std::string& path) {
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st;
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode))
    return make_error(errc::not_found, "cannot read " + path, "path");
  asio::io_context io;
  std::optional<result<attachment>> out;
  asio::co_spawn(io, do_upload(ep, f.fd, static_cast<std::uint64_t>(st.st_size), out),
                 asio::detached);
  io.run_for(ep.timeout + std::chrono::seconds(1));
  if (!out) return make_error(errc::internal, "the upload did not finish in time");
  return std::move(*out);
}

result<std::int64_t> download_file(const file_endpoint& ep, const std::string& id,
                                   const std::string& path) {
  std::string part = path + ".part";
  fd_guard f{::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (f.fd < 0)
    return make_error(errc::invalid, "cannot write " + part + ": " + std::strerror(errno), "path");
  asio::io_context io;
  std::optional<result<std::int64_t>> out;
  asio::co_spawn(io, do_download(ep, id, f.fd, out), asio::detached);
  io.run_for(ep.timeout + std::chrono::seconds(1));
  if (!out) return make_error(errc::internal, "the download did not finish in time");
  if (!*out) {
    // Keep what arrived for a retry, unless there is nothing to continue.
    if (out->err().code != errc::internal) ::unlink(part.c_str());
    return std::move(*out);
  }
  if (::fsync(f.fd) != 0 || file_sha256(f.fd) != id) {
    ::unlink(part.c_str());
    return make_error(errc::internal, "the downloaded bytes do not match the upload's id");
  }
  if (::rename(part.c_str(), path.c_str()) != 0)
    return make_error(errc::internal, "cannot rename " + part + ": " + std::strerror(errno));
  return std::move(*out);
}

}  // namespace parley::sdk
