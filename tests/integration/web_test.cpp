// The web app's static files (`[web] dir`) against the real binary: the index at /, content
// types, HEAD, the security headers, traversal refused (.., encoded tricks, symlinks out of
// the directory, hidden files), only GET and HEAD, and the API unaffected and first.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace fs = std::filesystem;

namespace {

struct reply {
  int status = 0;
  std::string head;  // status line and headers, lowercased
  std::string body;
};

// Sends one request on a fresh connection (Connection: close) and reads the whole reply.
reply request(std::uint16_t port, const std::string& method, const std::string& target,
              const std::string& extra = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  reply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n" + extra + "\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto end = out.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.head = out.substr(0, end);
  for (auto& c : r.head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  r.body = out.substr(end + 4);
  if (r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

bool has_header(const reply& r, const std::string& line) {
  return r.head.find("\r\n" + line + "\r\n") != std::string::npos ||
         r.head.ends_with("\r\n" + line);
}

// A web directory with an index, a script, a stylesheet, a nested file, a hidden file, and
// symlinks pointing out of it; and a secret file beside it.
struct web_dir {
  fs::path root =
      fs::temp_directory_path() / ("parley-web-test-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path app = root / "web";
  web_dir() {
    fs::remove_all(root);
    fs::create_directories(app / "img");
    write(app / "index.html", "<!doctype html><title>Parley</title>");
    write(app / "app.js", "console.log('app');");
    write(app / "app.css", "body{}");
    write(app / "img" / "logo.svg", "<svg/>");
    write(app / ".env", "hidden");
    write(root / "secret.txt", "top secret");
    fs::create_symlink(root / "secret.txt", app / "leak.txt");
    fs::create_directory_symlink(root, app / "up");
  }
  ~web_dir() { fs::remove_all(root); }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
};

}  // namespace

TEST(Web, ServesTheIndexAndFilesWithTheirTypesAndSecurityHeaders) {
  web_dir d;
  server_process srv({"--set", "web.dir=" + d.app.string()});
  auto index = request(srv.port(), "GET", "/");
  ASSERT_EQ(index.status, 200) << index.head;
  EXPECT_EQ(index.body, "<!doctype html><title>Parley</title>");
  EXPECT_TRUE(has_header(index, "content-type: text/html; charset=utf-8")) << index.head;
  EXPECT_TRUE(has_header(index, "x-content-type-options: nosniff"));
  EXPECT_TRUE(has_header(index, "referrer-policy: no-referrer"));
  EXPECT_TRUE(has_header(index, "cache-control: no-cache"));
  auto port = std::to_string(srv.port());
  EXPECT_TRUE(has_header(index,
                         "content-security-policy: default-src 'self'; script-src 'self'; "
                         "style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                         "connect-src 'self' ws://127.0.0.1:" +
                             port + " wss://127.0.0.1:" + port +
                             "; object-src 'none'; base-uri 'none'; form-action 'self'; "
                             "frame-ancestors 'none'"))
      << index.head;
  EXPECT_EQ(index.head.find("access-control-allow-origin"), std::string::npos)
      << "the app's files are for its own origin";

  EXPECT_EQ(request(srv.port(), "GET", "/index.html?v=2").body, index.body);
  auto js = request(srv.port(), "GET", "/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log('app');");
  EXPECT_TRUE(has_header(js, "content-type: text/javascript; charset=utf-8")) << js.head;
  EXPECT_TRUE(
      has_header(request(srv.port(), "GET", "/app.css"), "content-type: text/css; charset=utf-8"));
  auto svg = request(srv.port(), "GET", "/img/logo.svg");
  EXPECT_EQ(svg.status, 200);
  EXPECT_TRUE(has_header(svg, "content-type: image/svg+xml"));
  EXPECT_EQ(request(srv.port(), "GET", "/img/%6cogo.svg").body, "<svg/>")
      << "plain percent-encoding is decoded";

  auto head = request(srv.port(), "HEAD", "/app.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(has_header(head, "content-length: 19")) << head.head;
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(has_header(head, "x-content-type-options: nosniff"));

  auto missing = request(srv.port(), "GET", "/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(has_header(missing, "x-content-type-options: nosniff"));
}

TEST(Web, RefusesTraversalHiddenFilesSymlinksOutAndOtherMethods) {
  web_dir d;
  server_process srv({"--set", "web.dir=" + d.app.string()});
  for (const char* target :
       {"/../secret.txt", "/img/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
        "/..%2fsecret.txt", "/img%2f..%2f..%2fsecret.txt", "/.%2e/secret.txt", "/..%5csecret.txt",
        "/index.html%00.js", "/%", "/%zz", "/.env", "/%2eenv"}) {
    auto r = request(srv.port(), "GET", target);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.head;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("hidden"), std::string::npos) << target;
  }
  EXPECT_EQ(request(srv.port(), "GET", "/leak.txt").status, 404) << "a symlink out of the dir";
  EXPECT_EQ(request(srv.port(), "GET", "/up/secret.txt").status, 404);
  EXPECT_EQ(request(srv.port(), "GET", "/img").status, 404) << "directories are not listed";
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    auto r = request(srv.port(), method, "/index.html", "Content-Length: 0\r\n");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_TRUE(has_header(r, "allow: get, head")) << r.head;
  }
}

TEST(Web, TheApiTakesPrecedenceAndWorksBesideTheApp) {
  web_dir d;
  // A file where an API path is: the API answers, not the file.
  fs::create_directories(d.app / "v1");
  web_dir::write(d.app / "v1" / "conversations", "not the API");
  web_dir::write(d.app / "healthz", "not the API");
  server_process srv({"--set", "web.dir=" + d.app.string()});
  auto health = request(srv.port(), "GET", "/healthz");
  EXPECT_EQ(health.body, "{\"status\":\"ok\"}");
  auto convs = request(srv.port(), "GET", "/v1/conversations");
  EXPECT_EQ(convs.status, 401) << convs.head;
  EXPECT_EQ(request(srv.port(), "GET", "/v1/nothing-here").status, 404);
  auto ann = register_and_login(srv.port(), "ann");
  auto listed = request(srv.port(), "GET", "/v1/conversations",
                        "Authorization: Bearer " + ann.token + "\r\n");
  EXPECT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find("conversations"), std::string::npos);
}

TEST(Web, WithoutAWebDirThereIsNoAppButTheApiWorks) {
  server_process srv;
  auto root = request(srv.port(), "GET", "/");
  EXPECT_EQ(root.status, 404);
  EXPECT_NE(root.body.find("not_found"), std::string::npos);
  EXPECT_EQ(request(srv.port(), "GET", "/index.html").status, 404);
  EXPECT_EQ(request(srv.port(), "GET", "/healthz").status, 200);
  auto ann = register_and_login(srv.port(), "ann");
  EXPECT_FALSE(ann.token.empty());
}

TEST(Web, AWebDirThatIsNotADirectoryStopsTheServerAtStart) {
  web_dir d;
  for (const auto& dir : {(d.root / "missing").string(), (d.app / "app.js").string()}) {
    auto out = d.root / "out.txt";
    std::string cmd = parley_bin() + " serve --port 0 --data-dir '" + (d.root / "data").string() +
                      "' --set 'web.dir=" + dir + "' > '" + out.string() + "' 2>&1 </dev/null";
    int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st)) << dir;
    EXPECT_NE(WEXITSTATUS(st), 0) << dir;
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("web.dir is not a directory: " + dir), std::string::npos)
        << text.str();
  }
}
