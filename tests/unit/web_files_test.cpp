// The web app's file mapping (server/web_files.hpp): which targets are the app's, path
// decoding and what is refused, symlinks out of the directory, content types and the CSP.
#include "server/web_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace parley {
namespace {

namespace fs = std::filesystem;

struct WebFiles : ::testing::Test {
  fs::path root = fs::temp_directory_path() / ("parley-web-files-" + std::to_string(::getpid()));
  fs::path app = root / "app";
  void SetUp() override {
    fs::remove_all(root);
    fs::create_directories(app / "sub dir");
    write(app / "index.html", "<!doctype html>");
    write(app / "app.js", "js");
    write(app / "sub dir" / "a.css", "css");
    write(app / ".hidden", "hidden");
    write(root / "secret", "secret");
    fs::create_symlink(root / "secret", app / "out");
    fs::create_symlink(app / "app.js", app / "in.js");
  }
  void TearDown() override { fs::remove_all(root); }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
  errc code_of(std::string_view target) {
    auto r = web_files::load(app.string(), target);
    return r ? errc::internal : r.err().code;
  }
};

TEST_F(WebFiles, ApiPathsAreNeverTheApps) {
  EXPECT_TRUE(web_files::is_web_target("/"));
  EXPECT_TRUE(web_files::is_web_target("/app.js?v=1"));
  EXPECT_TRUE(web_files::is_web_target("/v1x"));
  EXPECT_FALSE(web_files::is_web_target("/v1"));
  EXPECT_FALSE(web_files::is_web_target("/v1/conversations"));
  EXPECT_FALSE(web_files::is_web_target("/healthz"));
  EXPECT_FALSE(web_files::is_web_target("/metrics?x"));
  EXPECT_FALSE(web_files::is_web_target("app.js"));
  EXPECT_FALSE(web_files::is_web_target(""));
}

TEST_F(WebFiles, LoadsFilesAndTheIndex) {
  auto index = web_files::load(app.string(), "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<!doctype html>");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  auto js = web_files::load(app.string(), "/app.js?cache=1#frag");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->body, "js");
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  auto css = web_files::load(app.string(), "/sub%20dir/a.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->body, "css");
  EXPECT_TRUE(web_files::load(app.string(), "//app.js")) << "empty segments are skipped";
  EXPECT_TRUE(web_files::load(app.string(), "/in.js")) << "a symlink inside the directory";
}

TEST_F(WebFiles, RefusesWhatCouldLeaveTheDirectory) {
  for (const char* t :
       {"/../secret", "/sub%20dir/../../secret", "/%2e%2e/secret", "/%2E%2e/secret", "/..%2fsecret",
        "/sub%20dir%2f..%2f..%2fsecret", "/.%2e/secret", "/..", "/.", "/.hidden", "/%2ehidden",
        "/..%5csecret", "/a%00.js", "/%", "/%4", "/%g1"})
    EXPECT_EQ(code_of(t), errc::invalid) << t;
  EXPECT_EQ(code_of("app.js"), errc::invalid) << "not an absolute path";
  EXPECT_EQ(code_of("/out"), errc::not_found) << "a symlink out of the directory";
  EXPECT_EQ(code_of("/sub%20dir"), errc::not_found) << "a directory";
  EXPECT_EQ(code_of("/missing.js"), errc::not_found);
  auto gone = web_files::load((root / "nope").string(), "/");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.err().code, errc::not_found);
}

TEST(WebFilesTypes, ContentTypesComeFromTheExtension) {
  EXPECT_EQ(web_files::content_type_of("a.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(web_files::content_type_of("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(web_files::content_type_of("a.js.map"), "application/json");
  EXPECT_EQ(web_files::content_type_of("a.svg"), "image/svg+xml");
  EXPECT_EQ(web_files::content_type_of("a.png"), "image/png");
  EXPECT_EQ(web_files::content_type_of("README"), "application/octet-stream");
  EXPECT_EQ(web_files::content_type_of("a.exe"), "application/octet-stream");
}

TEST(WebFilesCsp, OnlyAPlainHostIsAddedToConnectSrc) {
  auto plain = web_files::content_security_policy("chat.example.com:8443");
  EXPECT_NE(
      plain.find("connect-src 'self' ws://chat.example.com:8443 wss://chat.example.com:8443;"),
      std::string::npos)
      << plain;
  EXPECT_NE(plain.find("script-src 'self';"), std::string::npos);
  EXPECT_NE(plain.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(plain.find("unsafe"), std::string::npos);
  for (const char* bad : {"", "evil; script-src *", "a b", "x\"y"}) {
    auto csp = web_files::content_security_policy(bad);
    EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos) << bad;
    EXPECT_EQ(csp.find("script-src *"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace parley
