#include "transport/http_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <limits>
#include <vector>

#include "core/service.hpp"
#include "core/sniff.hpp"
#include "core/validate.hpp"
#include "server/metrics.hpp"
#include "store/blob_store.hpp"
#include "transport/rest_routes.hpp"

namespace parley::http_files {

using namespace http_common;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::string_view kPrefix = "/v1/uploads";

using header_parser = http::request_parser<http::empty_body>;

// Runs fn on the blocking pool and resumes on the caller's executor with its result.
template <class T, class Fn>
asio::awaitable<T> on_pool(asio::thread_pool& pool, Fn fn) {
  auto start = [&pool, &fn](auto done) {
    asio::post(pool, [&fn, done = std::move(done)]() mutable { done(fn()); });
  };
  auto op = await_callback<T>(start);
  co_return co_await std::move(op);
}

asio::awaitable<bool> upload(server_context& ctx, asio::thread_pool& blocking, http_stream& stream,
                             beast::flat_buffer& buf, header_parser& hp, const device_session& me) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  auto limit = static_cast<std::uint64_t>(ctx.cfg.max_upload_bytes);
  if (auto len = hp.content_length(); len && *len > limit)
    co_return co_await reply_error(
        stream, ver, false,
        make_error(errc::too_large, "uploads are at most " + std::to_string(limit) + " bytes",
                   "body"));
  if (!hp.chunked() && !hp.content_length())
    co_return co_await reply_error(
        stream, ver, false,
        make_error(errc::invalid, "an upload needs Content-Length or chunked encoding", "body"));
  auto w = ctx.blobs->begin();
  if (!w) co_return co_await reply_error(stream, ver, false, w.err());
  auto expect = req[http::field::expect];
  if (beast::iequals(expect, "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, ver};
    auto [ec, n] = co_await http::async_write(stream, cont, tuple_awaitable);
    if (ec) co_return false;
  }
  http::request_parser<http::buffer_body> p{std::move(hp)};
  p.body_limit(limit);
  std::vector<char> chunk(kChunk);
  while (!p.is_done()) {
    p.get().body().data = chunk.data();
    p.get().body().size = chunk.size();
    stream.expires_after(std::chrono::milliseconds(ctx.cfg.heartbeat_timeout_ms));
    auto [ec, n] = co_await http::async_read(stream, buf, p, tuple_awaitable);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit)
      co_return co_await reply_error(
          stream, ver, false,
          make_error(errc::too_large, "uploads are at most " + std::to_string(limit) + " bytes",
                     "body"));
    if (ec) co_return false;  // the client went away or stalled: the file is dropped
    auto got = chunk.size() - p.get().body().size;
    if (got > 0)
      if (auto r = (*w)->write(chunk.data(), got); !r)
        co_return co_await reply_error(stream, ver, false, r.err());
  }
  stream.expires_never();
  const bool ka = p.get().keep_alive();
  auto* writer = w->get();
  auto info =
      co_await on_pool<result<upload_info>>(blocking, [writer] { return writer->finish(); });
  if (!info) co_return co_await reply_error(stream, ver, ka, info.err());
  auto temp = writer->temp_path();
  auto* blobs = ctx.blobs;
  auto id = info->id;
  std::function<result<unit>()> install = [blobs, temp, id] { return blobs->install(temp, id); };
  upload_info u = *info;
  auto start = [&ctx, &me, &u, &install](auto done) {
    ctx.svc->put_upload(me, u, install, std::move(done));
  };
  auto op = await_callback<result<std::string>>(start);
  auto r = co_await std::move(op);
  if (!r) {
    blobs->discard(temp);
    ctx.m->count_error(r.err().code);
    co_return co_await reply_error(stream, ver, ka, r.err());
  }
  ctx.m->uploads_total.fetch_add(1, std::memory_order_relaxed);
  ctx.m->upload_bytes_total.fetch_add(static_cast<std::uint64_t>(u.size),
                                      std::memory_order_relaxed);
  auto res = json_response(ver, ka, 200, std::move(*r));
  auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
  co_return !ec && ka;
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

asio::awaitable<bool> download(server_context& ctx, http_stream& stream, header_parser& hp,
                               const device_session& me, const std::string& id, bool head) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  const bool ka = req.keep_alive();
  auto start = [&ctx, &me, &id](auto done) { ctx.svc->open_upload(me, id, std::move(done)); };
  auto op = await_callback<result<upload_info>>(start);
  auto u = co_await std::move(op);
  if (!u) co_return co_await reply_error(stream, ver, ka, u.err());
  fd_guard f{::open(ctx.blobs->path(id).c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st;
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0)
    co_return co_await reply_error(
        stream, ver, ka, make_error(errc::not_found, "the upload's content is missing", "id"));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::string etag = "\"" + id + "\"";

  http::response<http::empty_body> res{http::status::ok, ver};
  res.set(http::field::server, "parley");
  allow_cross_origin(res);
  res.set(http::field::content_type, u->type);
  res.set(http::field::etag, etag);
  res.set(http::field::accept_ranges, "bytes");
  // Content-addressed, so it never changes; but only for this user.
  res.set(http::field::cache_control, "private, max-age=31536000, immutable");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", "default-src 'none'; sandbox");
  std::string name = query_value(req.target(), "name");
  if (!name.empty() && !check_file_name(name, "name")) name.clear();
  res.set(http::field::content_disposition, content_disposition(inline_type(u->type), name));
  res.keep_alive(ka);

  std::uint64_t first = 0, last = size == 0 ? 0 : size - 1;
  bool partial = false;
  if (auto inm = req[http::field::if_none_match]; !inm.empty() && inm == etag) {
    res.result(http::status::not_modified);
    http::response_serializer<http::empty_body> sr{res};
    auto [ec, n] = co_await http::async_write_header(stream, sr, tuple_awaitable);
    co_return !ec && ka;
  }
  if (auto range = req[http::field::range]; !range.empty()) {
    auto rs = parse_byte_range(range, size, first, last);
    if (rs == range_status::unsatisfiable) {
      auto e = error_response(
          ver, ka, make_error(errc::invalid, "the range is outside the content", "range"));
      e.result(http::status::range_not_satisfiable);
      e.set(http::field::content_range, "bytes */" + std::to_string(size));
      auto [ec, n] = co_await http::async_write(stream, e, tuple_awaitable);
      co_return !ec && ka;
    }
    partial = rs == range_status::partial;
  }
  std::uint64_t length = size == 0 ? 0 : last - first + 1;
  if (partial) {
    res.result(http::status::partial_content);
    res.set(http::field::content_range, "bytes " + std::to_string(first) + "-" +
                                            std::to_string(last) + "/" + std::to_string(size));
  }
  res.content_length(length);
  http::response_serializer<http::empty_body> sr{res};
  stream.expires_after(std::chrono::milliseconds(ctx.cfg.heartbeat_timeout_ms));
  auto [hec, hn] = co_await http::async_write_header(stream, sr, tuple_awaitable);
  if (hec) co_return false;
  if (head) co_return ka;
  std::vector<char> chunk(kChunk);
  std::uint64_t off = first, left = length;
  while (left > 0) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    auto got = ::pread(f.fd, chunk.data(), want, static_cast<off_t>(off));
    if (got <= 0) co_return false;  // the length is promised: cut the connection
    stream.expires_after(std::chrono::milliseconds(ctx.cfg.heartbeat_timeout_ms));
    auto [ec, n] = co_await asio::async_write(
        stream, asio::buffer(chunk.data(), static_cast<std::size_t>(got)), tuple_awaitable);
    if (ec) co_return false;
    off += static_cast<std::uint64_t>(got);
    left -= static_cast<std::uint64_t>(got);
  }
  ctx.m->downloads_total.fetch_add(1, std::memory_order_relaxed);
  stream.expires_never();
  co_return ka;
}

}  // namespace

bool is_files_target(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  return path == kPrefix ||
         (path.size() > kPrefix.size() && path.substr(0, kPrefix.size()) == kPrefix &&
          path[kPrefix.size()] == '/');
}

asio::awaitable<bool> serve(server_context& ctx, asio::thread_pool& blocking, http_stream& stream,
                            beast::flat_buffer& buf, header_parser& hp) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  std::string_view target(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  const bool has_body = hp.chunked() || hp.content_length().value_or(0) > 0;
  ctx.m->http_requests_total.fetch_add(1, std::memory_order_relaxed);

  std::string id;
  bool is_upload = path == kPrefix || path == std::string(kPrefix) + "/";
  if (!is_upload) {
    id = std::string(path.substr(kPrefix.size() + 1));
    if (!valid_upload_id(id))
      co_return co_await reply_error(stream, ver, !has_body && req.keep_alive(),
                                     make_error(errc::not_found, "no such upload", "id"));
  }
  bool allowed = is_upload ? req.method() == http::verb::post
                           : req.method() == http::verb::get || req.method() == http::verb::head;
  if (!allowed) {
    co_await write_response(stream, method_not_allowed(ver, false));
    co_return false;
  }
  // Both need a login; an upload is refused before a byte of its body is read.
  auto who =
      co_await authenticate_request(ctx, req, "uploads and downloads need Authorization: Bearer");
  if (!who) co_return co_await reply_error(stream, ver, !has_body && req.keep_alive(), who.err());
  if (is_upload) {
    if (auto ms = ctx.svc->rate_take(rate_class::upload, std::to_string(who->u.id))) {
      auto e = make_error(errc::rate_limited, "uploading too often");
      e.retry_after_ms = ms;
      co_return co_await reply_error(stream, ver, false, e);  // the body is not read
    }
    co_return co_await upload(ctx, blocking, stream, buf, hp, *who);
  }
  if (has_body)
    co_return co_await reply_error(stream, ver, false,
                                   make_error(errc::invalid, "a download has no body", "body"));
  co_return co_await download(ctx, stream, hp, *who, id, req.method() == http::verb::head);
}

}  // namespace parley::http_files
