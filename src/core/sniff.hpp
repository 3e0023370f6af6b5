// Content sniffing: the type of uploaded bytes (and an image's dimensions when its header
// holds them) decided from the bytes themselves, never from what a client claims. Pure,
// no I/O of its own: bytes come through a reader.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace parley {

struct sniffed {
  std::string type;  // a MIME type; application/octet-stream when nothing matched
  std::int32_t width = 0, height = 0;
};

// Reads up to n bytes at offset `off` into buf; returns how many (0 at the end).
using byte_reader =
    std::function<std::size_t(std::uint64_t off, unsigned char* buf, std::size_t n)>;

// Recognizes PNG, JPEG, GIF and WebP (with dimensions), PDF, ZIP, gzip, MP4/QuickTime,
// HEIC, WebM/Matroska, MP3, Ogg, WAV, FLAC, and UTF-8 text (text/plain; charset=utf-8).
// Markup (HTML, SVG, XML) is text/plain: the server never serves anything a browser runs.
sniffed sniff_content(const byte_reader& read, std::uint64_t size);
sniffed sniff_bytes(std::string_view bytes);

// Whether a browser may show the type inline (images, audio, video, plain text); anything
// else is served as a download (Content-Disposition: attachment).
bool inline_type(std::string_view type);

}  // namespace parley
