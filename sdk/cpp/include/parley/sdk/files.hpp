// Uploading and downloading attachments over HTTP (docs/protocol.md, "Attachments").
// Blocking calls, each on its own connection: call them from any thread but the client's.
// No Beast types here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "parley/sdk/event.hpp"

namespace parley::sdk {

struct file_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string token;  // a login token (client_options::token)
  // The whole transfer must finish within this (it also bounds a stalled server).
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
};

// Streams the file at `path` to POST /v1/uploads. The result is the upload as the server
// recorded it (id, size, sniffed type, image dimensions; name left empty: give one when
// attaching). Errors: the server's typed error (too_large, unauthenticated, ...),
// not_found if the file cannot be read, internal if the server cannot be reached.
result<attachment> upload_file(const file_endpoint& ep, const std::string& path);

// Downloads upload `id` into `path`. The bytes go to `path + ".part"` first; a .part
// left by an interrupted download is continued with a Range request. The finished file
// is checked against `id` (its SHA-256) before it is renamed to `path`; a mismatch is an
// internal error and removes the .part. Returns the file's size.
result<std::int64_t> download_file(const file_endpoint& ep, const std::string& id,
                                   const std::string& path);

}  // namespace parley::sdk
