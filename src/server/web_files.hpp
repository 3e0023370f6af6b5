// The web app's static files (`[web] dir`, docs/architecture.md "Web app"): maps a request
// target to a file inside the configured directory, refusing anything that could leave it.
// No Asio, no Beast: the HTTP transport turns the result into a response.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace parley::web_files {

// One file to send.
struct file {
  std::string content_type;  // from the file name's extension
  std::string body;          // the whole file (the app's files are small)
};

// Largest file served; larger ones answer too_large (the app is a few hundred KiB).
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

// Whether `target` may name a web app file at all: not the API (/v1/...), /healthz or
// /metrics. Those always go to their own handlers first.
bool is_web_target(std::string_view target);

// Reads the file `target` names under `dir`: "/" is index.html; the query is ignored.
// Errors (typed, field "path"):
// - invalid: a target that is not an absolute path, bad percent-encoding, an encoded '/',
//   a NUL, a backslash, or a "." / ".." segment or one starting with '.' (hidden files);
// - not_found: no such regular file, or one whose real path (symlinks resolved) lies
//   outside `dir`'s real path;
// - too_large: over kMaxFileBytes.
result<file> load(const std::string& dir, std::string_view target);

// The Content-Type served for a file name ("application/octet-stream" if unknown).
std::string content_type_of(std::string_view name);

// The Content-Security-Policy of the app's responses. `host` is the request's Host
// header; when it is a plain host[:port] the WebSocket URLs of that host are allowed
// explicitly (connect-src), otherwise only 'self'.
std::string content_security_policy(std::string_view host);

}  // namespace parley::web_files
