#include "server/web_files.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace parley::web_files {

namespace fs = std::filesystem;

namespace {

error bad_path(const std::string& why) {
  return make_error(errc::invalid, why, "path");
}
error missing() {
  return make_error(errc::not_found, "no such file", "path");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one path segment; fails on malformed escapes and on bytes that could change
// how the path splits or ends.
result<std::string> decode_segment(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return bad_path("bad percent-encoding");
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return bad_path("bad percent-encoding");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      if (c == '/') return bad_path("an encoded '/' in the path");
    }
    if (c == '\0') return bad_path("a NUL in the path");
    if (c == '\\') return bad_path("a backslash in the path");
    out.push_back(c);
  }
  if (!out.empty() && out.front() == '.') return bad_path("a path segment starting with '.'");
  return out;
}

bool within(const fs::path& root, const fs::path& p) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q)
    if (q == p.end() || *q != *r) return false;
  return true;
}

}  // namespace

bool is_web_target(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') return false;
  if (path == "/v1" || path.starts_with("/v1/")) return false;
  return path != "/healthz" && path != "/metrics";
}

result<file> load(const std::string& dir, std::string_view target) {
  auto path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || path.front() != '/') return bad_path("the path must start with '/'");
  fs::path rel;
  std::string last;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    auto end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    auto seg = path.substr(pos, end - pos);
    pos = end + 1;
    if (seg.empty()) continue;
    auto d = decode_segment(seg);
    if (!d) return d.err();
    rel /= *d;
    last = *d;
  }
  if (rel.empty()) {
    rel = "index.html";
    last = "index.html";
  }
  std::error_code ec;
  auto root = fs::canonical(dir, ec);
  if (ec) return missing();
  auto real = fs::canonical(root / rel, ec);
  if (ec || !within(root, real)) return missing();
  if (!fs::is_regular_file(real, ec)) return missing();
  auto size = fs::file_size(real, ec);
  if (ec) return missing();
  if (size > kMaxFileBytes)
    return make_error(errc::too_large, "the file is too large to serve", "path");
  std::ifstream in(real, std::ios::binary);
  if (!in) return missing();
  std::ostringstream body;
  body << in.rdbuf();
  return file{content_type_of(last), std::move(body).str()};
}

std::string content_type_of(std::string_view name) {
  auto dot = name.rfind('.');
  std::string ext(dot == std::string_view::npos ? "" : name.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "webmanifest") return "application/manifest+json";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

std::string content_security_policy(std::string_view host) {
  std::string connect = "'self'";
  bool plain = !host.empty() && host.size() <= 255;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']'))
      plain = false;
  if (plain) connect += " ws://" + std::string(host) + " wss://" + std::string(host);
  return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
         "media-src 'self' blob:; connect-src " +
         connect +
         "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
}

}  // namespace parley::web_files
