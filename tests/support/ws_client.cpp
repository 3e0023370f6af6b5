#include "ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

namespace parley::test {

namespace beast = boost::beast;
namespace http_ns = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

boost::json::value http_reply::json() const {
  return boost::json::parse(body);
}

namespace {
http_reply exchange(std::uint16_t port, http_ns::request<http_ns::string_body>& req,
                    const std::string& token,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  req.set(http_ns::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http_ns::field::authorization, "Bearer " + token);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.keep_alive(false);
  req.prepare_payload();
  http_ns::write(s, req);
  beast::flat_buffer buf;
  http_ns::response_parser<http_ns::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  if (req.method() == http_ns::verb::head) p.skip(true);
  http_ns::read(s, buf, p);
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  http_reply r{static_cast<int>(p.get().result_int()), p.get().body(), {}};
  for (const auto& f : p.get()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(name, std::string(f.value()));
  }
  return r;
}
}  // namespace

std::string http_reply::header(const std::string& lowercase_name) const {
  for (const auto& [k, v] : headers)
    if (k == lowercase_name) return v;
  return {};
}

http_reply http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body, const std::string& token) {
  http_ns::request<http_ns::string_body> req{http_ns::string_to_verb(method), target, 11};
  if (!body.empty()) req.set(http_ns::field::content_type, "application/json");
  req.body() = body;
  return exchange(port, req, token, {});
}

http_reply http_raw(std::uint16_t port, const std::string& method, const std::string& target,
                    const std::string& body, const std::string& token,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  http_ns::request<http_ns::string_body> req{http_ns::string_to_verb(method), target, 11};
  req.body() = body;
  return exchange(port, req, token, headers);
}

struct ws_client::impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  std::string extensions;
  beast::flat_buffer buf;
  std::deque<boost::json::object> frames;  // parsed, not yet consumed
  std::int64_t next_id = 1;
  bool open = false;
  int close_code = -1;
  bool state_notices = false;

  // A read stays outstanding across calls, so a timeout never cancels (and so never
  // breaks) the stream.
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;
  std::size_t read_bytes = 0;

  // Reads one WebSocket message within timeout; false on timeout. Throws on close.
  bool read_message(std::chrono::milliseconds timeout) {
    if (!open && !read_pending) throw std::runtime_error("websocket closed");
    if (!read_pending) {
      read_pending = true;
      read_done = false;
      ws.async_read(buf, [this](beast::error_code e, std::size_t bytes) {
        read_ec = e;
        read_bytes = bytes;
        read_done = true;
      });
    }
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!read_done && std::chrono::steady_clock::now() < deadline) io.run_one_until(deadline);
    if (!read_done) return false;
    read_pending = false;
    auto ec = read_ec;
    auto n = read_bytes;
    if (ec) {
      open = false;
      close_code = ec == websocket::error::closed ? ws.reason().code : 0;
      throw std::runtime_error("websocket closed: " + ec.message() + " code " +
                               std::to_string(close_code));
    }
    std::string text = beast::buffers_to_string(buf.data());
    buf.consume(n);
    std::size_t i = 0;
    while (i <= text.size()) {
      auto j = text.find('\n', i);
      if (j == std::string::npos) j = text.size();
      if (j > i)
        frames.push_back(boost::json::parse(std::string_view(text).substr(i, j - i)).as_object());
      i = j + 1;
    }
    return true;
  }
};

ws_client::ws_client(std::uint16_t port, const std::string& token, bool deflate)
    : impl_(std::make_unique<impl>()) {
  auto& s = beast::get_lowest_layer(impl_->ws);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  if (!token.empty()) {
    impl_->ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& r) {
      r.set(http_ns::field::authorization, "Bearer " + token);
    }));
  }
  impl_->ws.read_message_max(64 * 1024 * 1024);
  if (deflate) {
    websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    impl_->ws.set_option(pmd);
  }
  websocket::response_type res;
  impl_->ws.handshake(res, "127.0.0.1:" + std::to_string(port), "/v1/ws");
  impl_->extensions = std::string(res[http_ns::field::sec_websocket_extensions]);
  impl_->open = true;
}

ws_client::~ws_client() {
  try {
    close();
  } catch (...) {
  }
}

std::int64_t ws_client::send_request(boost::json::object req) {
  auto id = impl_->next_id++;
  req["id"] = id;
  send_text(boost::json::serialize(req));
  return id;
}

boost::json::object ws_client::request(boost::json::object req, std::chrono::milliseconds timeout) {
  auto id = send_request(std::move(req));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = impl_->frames.begin(); it != impl_->frames.end(); ++it) {
      auto f = it->find("id");
      if (f != it->end() && f->value().is_int64() && f->value().get_int64() == id) {
        auto out = std::move(*it);
        impl_->frames.erase(it);
        return out;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !impl_->read_message(left))
      throw std::runtime_error("timeout waiting for the reply to request " + std::to_string(id));
  }
}

boost::json::object ws_client::call(boost::json::object req, std::chrono::milliseconds timeout) {
  auto op = req["op"];
  auto r = request(std::move(req), timeout);
  if (!r.contains("result"))
    throw std::runtime_error("request " + boost::json::serialize(op) +
                             " failed: " + boost::json::serialize(r));
  return r["result"].as_object();
}

std::optional<boost::json::object> ws_client::next_frame(std::chrono::milliseconds timeout) {
  if (impl_->frames.empty() && !impl_->read_message(timeout)) return std::nullopt;
  auto f = std::move(impl_->frames.front());
  impl_->frames.pop_front();
  return f;
}

std::optional<boost::json::object> ws_client::next_push(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = impl_->frames.begin(); it != impl_->frames.end();) {
      if (it->contains("id")) {
        ++it;
        continue;
      }
      auto out = std::move(*it);
      it = impl_->frames.erase(it);
      if (!impl_->state_notices)
        if (auto* n = out.if_contains("notice"); n && n->is_string()) {
          auto kind = n->as_string();
          if (kind == "presence" || kind == "receipts" || kind == "typing") continue;
        }
      return out;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !impl_->read_message(left)) return std::nullopt;
  }
}

std::vector<boost::json::object> ws_client::events(std::size_t n,
                                                   std::chrono::milliseconds timeout) {
  std::vector<boost::json::object> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto f = next_push(std::max(left, std::chrono::milliseconds(1)));
    if (!f)
      throw std::runtime_error("timeout: got " + std::to_string(out.size()) + " of " +
                               std::to_string(n) + " events");
    if (f->contains("ev")) out.push_back((*f)["ev"].as_object());
  }
  return out;
}

void ws_client::keep_state_notices(bool keep) {
  impl_->state_notices = keep;
}

void ws_client::send_text(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text));
}

void ws_client::send_binary(const std::string& data) {
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(data));
}

void ws_client::send_text_then_hang_up(const std::string& text) {
  send_text(text);
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_send, ec);
}

int ws_client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !impl_->read_message(left)) throw std::logic_error("timeout");
    }
  } catch (const std::runtime_error&) {
    return impl_->close_code;
  }
}

std::string ws_client::extensions() const {
  return impl_->extensions;
}

bool ws_client::is_open() const {
  return impl_->open;
}

void ws_client::close() {
  if (!impl_->open) return;
  impl_->open = false;
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(impl_->ws).socket().close(ec);
}

}  // namespace parley::test
