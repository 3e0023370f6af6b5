#include "core/sniff.hpp"

#include <array>
#include <cstring>
#include <vector>

#include "core/validate.hpp"

namespace parley {

namespace {

constexpr std::size_t kHead = 512;            // bytes the signatures look at
constexpr std::size_t kTextProbe = 8192;      // bytes checked for UTF-8 text
constexpr std::uint64_t kJpegScan = 1 << 20;  // how far the JPEG segment walk may go
constexpr std::int64_t kMaxDim = 1 << 20;     // dimensions beyond this are not believed

std::uint32_t be16(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 8) | p[1];
}
std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
std::uint32_t le16(const unsigned char* p) {
  return (std::uint32_t{p[1]} << 8) | p[0];
}
std::uint32_t le24(const unsigned char* p) {
  return (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

bool starts(const unsigned char* h, std::size_t n, std::size_t at, std::string_view sig) {
  return n >= at + sig.size() && std::memcmp(h + at, sig.data(), sig.size()) == 0;
}

void set_dims(sniffed& s, std::int64_t w, std::int64_t h) {
  if (w > 0 && h > 0 && w <= kMaxDim && h <= kMaxDim) {
    s.width = static_cast<std::int32_t>(w);
    s.height = static_cast<std::int32_t>(h);
  }
}

void webp_dims(sniffed& s, const unsigned char* h, std::size_t n) {
  if (starts(h, n, 12, "VP8X") && n >= 30) {
    set_dims(s, std::int64_t{le24(h + 24)} + 1, std::int64_t{le24(h + 27)} + 1);
  } else if (starts(h, n, 12, "VP8L") && n >= 25 && h[20] == 0x2F) {
    const unsigned char* b = h + 21;
    std::int64_t w = 1 + (((b[1] & 0x3F) << 8) | b[0]);
    std::int64_t ht = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6));
    set_dims(s, w, ht);
  } else if (starts(h, n, 12, "VP8 ") && n >= 30 && h[23] == 0x9D && h[24] == 0x01 &&
             h[25] == 0x2A) {
    set_dims(s, le16(h + 26) & 0x3FFF, le16(h + 28) & 0x3FFF);
  }
}

// Walks the JPEG's marker segments to the first start-of-frame.
void jpeg_dims(sniffed& s, const byte_reader& read, std::uint64_t size) {
  std::uint64_t pos = 2;
  unsigned char b[9];
  for (int segments = 0; segments < 512 && pos + 4 <= size && pos < kJpegScan; ++segments) {
    if (read(pos, b, 4) < 4 || b[0] != 0xFF) return;
    unsigned marker = b[1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length
      pos += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return;  // end of image, start of scan
    std::uint32_t len = be16(b + 2);
    if (len < 2) return;
    bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (read(pos, b, 9) < 9) return;
      set_dims(s, be16(b + 7), be16(b + 5));
      return;
    }
    pos += 2 + len;
  }
}

// An MPEG audio frame header: 11 sync bits, a defined version and layer, a valid bitrate
// and sampling rate.
bool mpeg_frame(const unsigned char* h, std::size_t n) {
  return n >= 4 && h[0] == 0xFF && (h[1] & 0xE0) == 0xE0 && (h[1] & 0x18) != 0x08 &&
         (h[1] & 0x06) != 0 && (h[2] >> 4) != 0x0F && ((h[2] >> 2) & 3) != 3;
}

bool utf8_text(const byte_reader& read, std::uint64_t size) {
  std::vector<unsigned char> buf(
      static_cast<std::size_t>(std::min<std::uint64_t>(size, kTextProbe)));
  auto n = read(0, buf.data(), buf.size());
  if (n == 0) return false;
  std::string_view v(reinterpret_cast<const char*>(buf.data()), n);
  // A probe cut inside a multi-byte sequence: drop the incomplete sequence at its end.
  if (n < size) {
    for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
      unsigned char c = buf[n - back];
      if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
      std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
      if (len > back) v = v.substr(0, n - back);
      break;
    }
  }
  for (unsigned char c : v)
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') || c == 0x7F)
      return false;
  return valid_utf8(v);
}

}  // namespace

sniffed sniff_content(const byte_reader& read, std::uint64_t size) {
  sniffed s;
  s.type = "application/octet-stream";
  std::array<unsigned char, kHead> head{};
  std::size_t n = size == 0 ? 0 : read(0, head.data(), head.size());
  const unsigned char* h = head.data();
  if (starts(h, n, 0, "\x89PNG\r\n\x1a\n")) {
    s.type = "image/png";
    if (starts(h, n, 12, "IHDR") && n >= 24) set_dims(s, be32(h + 16), be32(h + 20));
  } else if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) {
    s.type = "image/jpeg";
    jpeg_dims(s, read, size);
  } else if (starts(h, n, 0, "GIF87a") || starts(h, n, 0, "GIF89a")) {
    s.type = "image/gif";
    if (n >= 10) set_dims(s, le16(h + 6), le16(h + 8));
  } else if (starts(h, n, 0, "RIFF") && starts(h, n, 8, "WEBP")) {
    s.type = "image/webp";
    webp_dims(s, h, n);
  } else if (starts(h, n, 0, "RIFF") && starts(h, n, 8, "WAVE")) {
    s.type = "audio/wav";
  } else if (starts(h, n, 0, "%PDF-")) {
    s.type = "application/pdf";
  } else if (starts(h, n, 0, "PK\x03\x04") || starts(h, n, 0, "PK\x05\x06")) {
    s.type = "application/zip";
  } else if (n >= 3 && h[0] == 0x1F && h[1] == 0x8B && h[2] == 0x08) {
    s.type = "application/gzip";
  } else if (starts(h, n, 4, "ftyp")) {
    std::string_view brand(reinterpret_cast<const char*>(h + 8), n >= 12 ? 4 : 0);
    if (brand == "qt  ")
      s.type = "video/quicktime";
    else if (brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1")
      s.type = "image/heic";
    else if (brand == "M4A ")
      s.type = "audio/mp4";
    else
      s.type = "video/mp4";
  } else if (starts(h, n, 0, "\x1A\x45\xDF\xA3")) {
    std::string_view hv(reinterpret_cast<const char*>(h), std::min<std::size_t>(n, 64));
    s.type = hv.find("webm") != std::string_view::npos ? "video/webm" : "video/x-matroska";
  } else if (starts(h, n, 0, "ID3") || mpeg_frame(h, n)) {
    s.type = "audio/mpeg";
  } else if (starts(h, n, 0, "OggS")) {
    s.type = "audio/ogg";
  } else if (starts(h, n, 0, "fLaC")) {
    s.type = "audio/flac";
  } else if (utf8_text(read, size)) {
    s.type = "text/plain; charset=utf-8";
  }
  return s;
}

sniffed sniff_bytes(std::string_view bytes) {
  return sniff_content(
      [bytes](std::uint64_t off, unsigned char* buf, std::size_t n) -> std::size_t {
        if (off >= bytes.size()) return 0;
        auto k = std::min<std::size_t>(n, bytes.size() - static_cast<std::size_t>(off));
        std::memcpy(buf, bytes.data() + off, k);
        return k;
      },
      bytes.size());
}

bool inline_type(std::string_view type) {
  for (std::string_view p : {"image/", "audio/", "video/"})
    if (type.substr(0, p.size()) == p) return true;
  return type.substr(0, 10) == "text/plain";
}

}  // namespace parley
