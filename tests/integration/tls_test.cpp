// TLS inside `parley serve` (tls.cert_file / tls.key_file): a self-signed certificate made
// at test time with the openssl command, then HTTPS REST, WSS with permessage-deflate, SSE
// and long polling over HTTPS, clients that speak plain HTTP, TLS 1.1 or nothing at all to
// the TLS port, and the start-up checks of the certificate and key.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A self-signed certificate for localhost and 127.0.0.1, its key, and a second key that
// belongs to no certificate, in a temporary directory removed at the end.
struct tls_files {
  std::string dir, cert, key, other_key;
  tls_files() {
    char tmpl[] = "/tmp/parley-tls-XXXXXX";
    dir = ::mkdtemp(tmpl);
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    other_key = dir + "/other.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
        " -keyout " +
        key + " -out " + cert +
        " 2>/dev/null && "
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
        other_key + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("openssl could not make a certificate");
  }
  ~tls_files() { std::filesystem::remove_all(dir); }
  std::vector<std::string> args(const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"--set", "tls.cert_file=" + cert, "--set", "tls.key_file=" + key};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

const tls_files& files() {
  static tls_files f;
  return f;
}

// A client context that trusts only the test certificate and checks the host name.
std::unique_ptr<ssl::context> client_context() {
  auto c = std::make_unique<ssl::context>(ssl::context::tls_client);
  c->load_verify_file(files().cert);
  c->set_verify_mode(ssl::verify_peer);
  c->set_verify_callback(ssl::host_name_verification("localhost"));
  return c;
}

using tls_socket = ssl::stream<tcp::socket>;

std::unique_ptr<tls_socket> tls_connect(asio::io_context& io, ssl::context& ctx,
                                        std::uint16_t port) {
  auto s = std::make_unique<tls_socket>(io, ctx);
  s->next_layer().connect({asio::ip::address_v4::loopback(), port});
  SSL_set_tlsext_host_name(s->native_handle(), "localhost");
  s->handshake(ssl::stream_base::client);
  return s;
}

struct reply {
  int status = 0;
  std::string body;
  json::object json() const { return json::parse(body).as_object(); }
};

reply https(std::uint16_t port, http::verb method, const std::string& target,
            const std::string& body = {}, const std::string& token = {}) {
  asio::io_context io;
  auto ctx = client_context();
  auto s = tls_connect(io, *ctx, port);
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "localhost");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(false);
  http::write(*s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(*s, buf, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

account https_account(std::uint16_t port, const std::string& handle) {
  auto body =
      json::serialize(json::object{{"handle", handle}, {"password", "correct horse battery"}});
  auto r = https(port, http::verb::post, "/v1/register", body);
  EXPECT_EQ(r.status, 200) << r.body;
  auto l = https(port, http::verb::post, "/v1/login", body);
  EXPECT_EQ(l.status, 200) << l.body;
  auto j = l.json();
  return {handle, std::string(j["token"].as_string()), j["user"].as_object()["id"].as_int64()};
}

// A WSS client offering permessage-deflate; frames of one message are split on '\n'.
class wss_client {
 public:
  wss_client(std::uint16_t port, const std::string& token) : ctx_(client_context()) {
    ws_ = std::make_unique<websocket::stream<tls_socket>>(io_, *ctx_);
    ws_->next_layer().next_layer().connect({asio::ip::address_v4::loopback(), port});
    SSL_set_tlsext_host_name(ws_->next_layer().native_handle(), "localhost");
    ws_->next_layer().handshake(ssl::stream_base::client);
    websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    ws_->set_option(pmd);
    ws_->set_option(websocket::stream_base::decorator([token](websocket::request_type& r) {
      r.set(http::field::authorization, "Bearer " + token);
    }));
    websocket::response_type res;
    ws_->handshake(res, "localhost", "/v1/ws");
    extensions = std::string(res[http::field::sec_websocket_extensions]);
  }
  json::object call(json::object req) {
    req["id"] = ++id_;
    ws_->text(true);
    ws_->write(asio::buffer(json::serialize(req)));
    for (;;) {
      auto f = next();
      if (f.contains("id") && f["id"] == id_) {
        if (!f.contains("result")) throw std::runtime_error("error: " + json::serialize(f));
        return f["result"].as_object();
      }
      pushed_.push_back(std::move(f));
    }
  }
  // The next frame with an event.
  json::object next_event() {
    for (;;) {
      json::object f;
      if (!pushed_.empty()) {
        f = std::move(pushed_.front());
        pushed_.erase(pushed_.begin());
      } else {
        f = next();
      }
      if (f.contains("ev")) return f["ev"].as_object();
    }
  }
  std::string extensions;

 private:
  json::object next() {
    while (frames_.empty()) {
      beast::flat_buffer b;
      ws_->read(b);
      std::istringstream in(beast::buffers_to_string(b.data()));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) frames_.push_back(json::parse(line).as_object());
    }
    auto f = std::move(frames_.front());
    frames_.erase(frames_.begin());
    return f;
  }
  asio::io_context io_;
  std::unique_ptr<ssl::context> ctx_;
  std::unique_ptr<websocket::stream<tls_socket>> ws_;
  std::vector<json::object> frames_, pushed_;
  std::int64_t id_ = 0;
};

std::uint64_t tls_metric(std::uint16_t port, const std::string& name) {
  auto m = https(port, http::verb::get, "/metrics").body;
  auto at = m.find("\n" + name + " ");
  if (at == std::string::npos) throw std::runtime_error("no metric " + name);
  return std::stoull(m.substr(at + name.size() + 2));
}

// Reads from a raw TCP connection until it closes or `timeout` passes; returns what came and
// whether the server closed it.
std::pair<std::string, bool> read_until_closed(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return {got, true};
    if (n < 0) return {got, errno == ECONNRESET};
    got.append(buf, static_cast<std::size_t>(n));
  }
}

int raw_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("connect failed");
  return fd;
}

// Runs `parley serve` with `args` to its exit; returns the exit status and its output.
std::pair<int, std::string> run_serve(const std::vector<std::string>& args) {
  char tmpl[] = "/tmp/parley-tls-run-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string cmd = parley_bin() + " serve --port 0 --data-dir " + dir;
  for (auto& a : args) cmd += " '" + a + "'";
  cmd += " > " + dir + "/out.txt 2>&1";
  int st = std::system(cmd.c_str());
  std::ifstream in(dir + "/out.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove_all(dir);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ss.str()};
}

}  // namespace

TEST(Tls, RestOverHttpsRegistersLogsInAndSends) {
  server_process srv(files().args());
  EXPECT_EQ(https(srv.port(), http::verb::get, "/healthz").status, 200);
  auto ann = https_account(srv.port(), "ann");
  auto bob = https_account(srv.port(), "bob");
  auto conv = https(srv.port(), http::verb::post, "/v1/conversations",
                    json::serialize(json::object{
                        {"kind", "group"}, {"title", "t"}, {"members", json::array{"bob"}}}),
                    ann.token);
  ASSERT_EQ(conv.status, 200) << conv.body;
  auto id = conv.json()["conversation"].as_object()["id"].as_int64();
  auto sent = https(
      srv.port(), http::verb::post, "/v1/conversations/" + std::to_string(id) + "/messages",
      json::serialize(json::object{{"client_msg_id", "m1"}, {"text", "over tls"}}), ann.token);
  ASSERT_EQ(sent.status, 200) << sent.body;
  auto hist = https(srv.port(), http::verb::get,
                    "/v1/conversations/" + std::to_string(id) + "/messages", {}, bob.token);
  ASSERT_EQ(hist.status, 200) << hist.body;
  EXPECT_NE(hist.body.find("over tls"), std::string::npos) << hist.body;
  EXPECT_GE(tls_metric(srv.port(), "parley_tls_handshakes_total"), 6u);
}

TEST(Tls, UploadsAndDownloadsOverHttps) {
  server_process srv(files().args());
  auto ann = https_account(srv.port(), "ann");
  std::string bytes(300 * 1024, '\0');  // many TLS records each way
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) >> 3);
  auto up = https(srv.port(), http::verb::post, "/v1/uploads", bytes, ann.token);
  ASSERT_EQ(up.status, 200) << up.body;
  auto u = up.json()["upload"].as_object();
  EXPECT_EQ(u["size"].as_int64(), static_cast<std::int64_t>(bytes.size()));
  auto down = https(srv.port(), http::verb::get, "/v1/uploads/" + std::string(u["id"].as_string()),
                    {}, ann.token);
  ASSERT_EQ(down.status, 200);
  EXPECT_TRUE(down.body == bytes) << "the download differs from the upload";
}

TEST(Tls, WssChatsEndToEndWithPermessageDeflate) {
  server_process srv(files().args());
  auto ann = https_account(srv.port(), "ann");
  auto bob = https_account(srv.port(), "bob");
  wss_client a(srv.port(), ann.token), b(srv.port(), bob.token);
  EXPECT_NE(a.extensions.find("permessage-deflate"), std::string::npos) << a.extensions;
  a.call({{"op", "sync"}});
  b.call({{"op", "sync"}});
  json::array members{"bob"};
  auto conv = a.call({{"op", "conv.create"},
                      {"kind", "group"},
                      {"title", "g"},
                      {"members", members}})["conversation"]
                  .as_object()["id"]
                  .as_int64();
  // Long enough to be compressed both ways, and to take more than one TLS record.
  std::string text(9000, 'x');
  for (std::size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 26);
  for (int i = 0; i < 3; ++i)
    a.call({{"op", "send"},
            {"conv", conv},
            {"client_msg_id", "c" + std::to_string(i)},
            {"text", text + std::to_string(i)}});
  auto text_of = [](json::object ev) {
    return std::string(ev["data"].as_object()["text"].as_string());
  };
  for (;;) {  // the conversation's creation first, then the three messages in order
    auto ev = b.next_event();
    if (ev["type"] != "message.created") continue;
    EXPECT_EQ(text_of(ev), text + "0");
    break;
  }
  EXPECT_EQ(text_of(b.next_event()), text + "1");
  EXPECT_EQ(text_of(b.next_event()), text + "2");
  auto reply = b.call({{"op", "send"}, {"conv", conv}, {"client_msg_id", "r"}, {"text", "back"}});
  EXPECT_GT(reply["seq"].as_int64(), 0);
  EXPECT_GT(tls_metric(srv.port(), "parley_ws_deflated_total"), 0u);
  EXPECT_GT(tls_metric(srv.port(), "parley_ws_inflated_total"), 0u);
}

TEST(Tls, SseAndLongPollingOverHttps) {
  server_process srv(files().args());
  auto ann = https_account(srv.port(), "ann");
  auto bob = https_account(srv.port(), "bob");
  wss_client a(srv.port(), ann.token);
  a.call({{"op", "sync"}});
  json::array members{"bob"};
  auto conv = a.call({{"op", "conv.create"},
                      {"kind", "group"},
                      {"title", "g"},
                      {"members", members}})["conversation"]
                  .as_object()["id"]
                  .as_int64();
  a.call({{"op", "send"}, {"conv", conv}, {"client_msg_id", "p1"}, {"text", "polled"}});
  auto poll =
      https(srv.port(), http::verb::get, "/v1/poll?timeout_ms=1000&cursor=all", {}, bob.token);
  ASSERT_EQ(poll.status, 200) << poll.body;
  EXPECT_NE(poll.body.find("polled"), std::string::npos) << poll.body;

  asio::io_context io;
  auto ctx = client_context();
  auto s = tls_connect(io, *ctx, srv.port());
  std::string req =
      "GET /v1/sse?cursor=all HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
      "Authorization: Bearer " +
      bob.token + "\r\n\r\n";
  asio::write(*s, asio::buffer(req));
  std::string got;
  auto read_until = [&](const std::string& what) {
    char buf[4096];
    while (got.find(what) == std::string::npos) got.append(buf, s->read_some(asio::buffer(buf)));
  };
  read_until("polled");
  EXPECT_NE(got.find("text/event-stream"), std::string::npos) << got;
  a.call({{"op", "send"}, {"conv", conv}, {"client_msg_id", "p2"}, {"text", "streamed live"}});
  read_until("streamed live");
}

TEST(Tls, PlainHttpToTheTlsPortGetsNothingUsefulAndTheServerStaysHealthy) {
  server_process srv(files().args());
  int fd = raw_connect(srv.port());
  std::string req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  auto [got, closed] = read_until_closed(fd, 5s);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.find("HTTP/1.1"), std::string::npos) << got;
  EXPECT_EQ(got.find("ok"), std::string::npos) << got;
  EXPECT_EQ(https(srv.port(), http::verb::get, "/healthz").status, 200);
  EXPECT_GE(tls_metric(srv.port(), "parley_tls_handshake_failures_total"), 1u);
}

TEST(Tls, ATls11OnlyClientIsRefused) {
  server_process srv(files().args());
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(ctx.native_handle(), "DEFAULT:@SECLEVEL=0");  // let it offer 1.1
  tls_socket s(io, ctx);
  s.next_layer().connect({asio::ip::address_v4::loopback(), srv.port()});
  boost::system::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec) << "a TLS 1.1 handshake succeeded";
  EXPECT_GE(tls_metric(srv.port(), "parley_tls_handshake_failures_total"), 1u);
  EXPECT_EQ(https(srv.port(), http::verb::get, "/healthz").status, 200);
}

TEST(Tls, MinVersion13RefusesTls12) {
  server_process srv(files().args({"--set", "tls.min_version=1.3"}));
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  tls_socket s(io, ctx);
  s.next_layer().connect({asio::ip::address_v4::loopback(), srv.port()});
  boost::system::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec) << "a TLS 1.2 handshake succeeded with tls.min_version=1.3";
  EXPECT_EQ(https(srv.port(), http::verb::get, "/healthz").status, 200);  // 1.3 works
}

TEST(Tls, AClientThatNeverSendsAClientHelloIsDroppedAfterTheHandshakeTimeout) {
  server_process srv(files().args({"--set", "websocket.handshake_timeout_ms=500", "--set",
                                   "limits.max_connections_per_address=2"}));
  auto t0 = std::chrono::steady_clock::now();
  int a = raw_connect(srv.port()), b = raw_connect(srv.port());
  std::this_thread::sleep_for(100ms);  // both are accepted and waiting
  // A third stalled handshake from the same address is over the limit: dropped at once.
  int c = raw_connect(srv.port());
  auto [c_got, c_closed] = read_until_closed(c, 400ms);
  EXPECT_TRUE(c_closed) << "the third handshake was kept";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 450ms);
  auto [got, closed] = read_until_closed(a, 5s);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed) << "a stalled handshake was kept";
  EXPECT_TRUE(got.empty());
  EXPECT_GE(waited, 450ms);
  EXPECT_LT(waited, 3s);
  EXPECT_TRUE(read_until_closed(b, 2s).second);
  for (int fd : {a, b, c}) ::close(fd);
  // Their places are given back: a real client is served.
  EXPECT_EQ(https(srv.port(), http::verb::get, "/healthz").status, 200);
  EXPECT_GE(tls_metric(srv.port(), "parley_tls_handshake_failures_total"), 3u);
}

TEST(Tls, BadCertificateOrKeyStopsTheServerAtStart) {
  const auto& f = files();
  {
    auto [code, out] =
        run_serve({"--set", "tls.cert_file=" + f.cert, "--set", "tls.key_file=" + f.other_key});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("is not the private key of the certificate"), std::string::npos) << out;
  }
  {
    auto [code, out] = run_serve(
        {"--set", "tls.cert_file=" + f.dir + "/missing.pem", "--set", "tls.key_file=" + f.key});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("tls.cert_file " + f.dir + "/missing.pem: cannot read it"),
              std::string::npos)
        << out;
  }
  {
    auto [code, out] = run_serve(
        {"--set", "tls.cert_file=" + f.cert, "--set", "tls.key_file=" + f.dir + "/missing.pem"});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("tls.key_file"), std::string::npos) << out;
  }
  {
    auto [code, out] =
        run_serve({"--set", "tls.cert_file=" + f.key, "--set", "tls.key_file=" + f.key});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("not a PEM certificate chain"), std::string::npos) << out;
  }
  {
    auto [code, out] = run_serve({"--set", "tls.cert_file=" + f.cert});
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("must be set together"), std::string::npos) << out;
  }
}
