#include "config.hpp"

#include "format.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace parley::cli {

namespace json = boost::json;

namespace {

failure local(const std::string& what, const std::string& path) {
  return failure("config", what + " " + path + ": " + std::strerror(errno), exit_local);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with mode 0700 for the directories it creates.
void make_dirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return;
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      throw local("cannot use the directory", dir);
    }
    return;
  }
  make_dirs(parent_dir(dir));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw local("cannot create", dir);
}

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (auto* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  throw failure("config", "cannot find the home directory; use --config PATH", exit_local);
}

}  // namespace

std::string endpoint::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

endpoint parse_server(const std::string& input) {
  auto bad = [&](const std::string& why) {
    return failure("invalid", "--server " + input + ": " + why, exit_usage);
  };
  std::string s = input;
  for (const char* scheme : {"https://", "wss://"})
    if (s.rfind(scheme, 0) == 0) throw bad("TLS is not supported; use host:port");
  for (const char* scheme : {"http://", "ws://"})
    if (s.rfind(scheme, 0) == 0) s = s.substr(std::strlen(scheme));
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.empty()) throw bad("expected host:port");
  endpoint e;
  std::string port;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) throw bad("missing ']'");
    e.host = s.substr(1, close - 1);
    auto rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') throw bad("expected ':' after ']'");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string::npos && s.find(':') != colon) throw bad("write IPv6 as [addr]:port");
    e.host = colon == std::string::npos ? s : s.substr(0, colon);
    if (colon != std::string::npos) port = s.substr(colon + 1);
  }
  if (e.host.empty() || e.host.find_first_of("/?# ") != std::string::npos)
    throw bad("expected host:port");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      throw bad("the port must be a number");
    auto n = std::stoi(port);
    if (n < 1 || n > 65535) throw bad("the port must be between 1 and 65535");
    e.port = static_cast<std::uint16_t>(n);
  }
  return e;
}

std::string resolve_config_path(const globals& g) {
  if (!g.config_path.empty()) return g.config_path;
  if (const char* p = std::getenv("PARLEY_CLI_CONFIG"); p && *p) return p;
  // XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x == '/')
    return std::string(x) + "/parley/cli.json";
  return home_dir() + "/.config/parley/cli.json";
}

credentials load_config(const std::string& path) {
  credentials c;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return c;
    throw local("cannot read", path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec || !v.is_object())
    throw failure("config", path + " is not a JSON object; fix or remove it", exit_local);
  const auto& o = v.as_object();
  c.server = json_str(o, "server");
  c.handle = json_str(o, "handle");
  c.token = json_str(o, "token");
  c.user_id = json_int(o, "user_id");
  c.device = json_int(o, "device");
  c.expires_ms = json_int(o, "expires_ms");
  return c;
}

void save_config(const std::string& path, const credentials& c) {
  make_dirs(parent_dir(path));
  json::object o;
  o["server"] = c.server;
  o["handle"] = c.handle;
  if (!c.token.empty()) {
    o["token"] = c.token;
    o["user_id"] = c.user_id;
    o["device"] = c.device;
    o["expires_ms"] = c.expires_ms;
  }
  std::string text = json::serialize(o) + "\n";
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw local("cannot write", tmp);
  bool ok = fchmod(fd, 0600) == 0;  // in case the file existed with another mode
  for (std::size_t off = 0; ok && off < text.size();) {
    auto n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  int saved = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved = errno;
    unlink(tmp.c_str());
    errno = saved;
    throw local("cannot write", path);
  }
}

std::string store_path_for(const std::string& config_path, const std::string& handle,
                           const endpoint& server) {
  std::string name = handle + "@" + server.host + "-" + std::to_string(server.port);
  for (auto& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_' &&
        ch != '@')
      ch = '_';
  return parent_dir(config_path) + "/" + name + ".db";
}

void prepare_store_file(const std::string& store_path) {
  make_dirs(parent_dir(store_path));
  int fd = open(store_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw local("cannot open the local store", store_path);
  close(fd);
}

store_lock::store_lock(const std::string& store_path) {
  auto path = store_path + ".lock";
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw local("cannot open", path);
}

store_lock::~store_lock() {
  if (fd_ >= 0) close(fd_);
}

void store_lock::hold_shared() {
  flock(fd_, LOCK_SH);
}

bool store_lock::nobody_else() {
  flock(fd_, LOCK_UN);
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) return false;
  flock(fd_, LOCK_UN);
  return true;
}

}  // namespace parley::cli
