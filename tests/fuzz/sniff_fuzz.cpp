// libFuzzer target: content sniffing of uploaded bytes (core/sniff.hpp), the only code that
// parses the contents of files users upload: magic numbers, PNG/GIF/WebP headers, the
// JPEG segment walk, UTF-8 text. The bytes are read as the blob store reads them (pread
// through a byte_reader), and also as a file shorter than its recorded size (bytes missing
// at the end) and one read in short pieces. The reader fills the whole buffer it is given
// before copying, so a buffer smaller than the size sniff claims shows under ASan.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/sniff.hpp"
#include "core/validate.hpp"

namespace {

using namespace parley;

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "sniff_fuzz: broken promise: %s\n", what);
  std::abort();
}

// pread over `bytes`, returning at most `piece` bytes a call.
byte_reader reader(std::string_view bytes, std::size_t piece) {
  return [bytes, piece](std::uint64_t off, unsigned char* buf, std::size_t n) -> std::size_t {
    if (n == 0) return 0;  // buf may be null then
    std::memset(buf, 0xA5, n);
    if (off >= bytes.size()) return 0;
    auto k = std::min({n, piece, bytes.size() - static_cast<std::size_t>(off)});
    std::memcpy(buf, bytes.data() + off, k);
    return k;
  };
}

void check(const sniffed& s) {
  expect(!s.type.empty(), "a type");
  expect((s.width == 0) == (s.height == 0), "both dimensions or none");
  expect(s.width >= 0 && s.width <= (1 << 20) && s.height >= 0 && s.height <= (1 << 20),
         "dimensions are believable");
  if (s.width > 0) expect(s.type.starts_with("image/"), "only images have dimensions");
  (void)inline_type(s.type);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto s = sniff_bytes(in);
  check(s);
  if (s.type == "text/plain; charset=utf-8" && in.size() <= 8192)
    expect(valid_utf8(in), "text is UTF-8");
  auto whole = sniff_content(reader(in, in.size() + 1), in.size());
  expect(whole.type == s.type && whole.width == s.width && whole.height == s.height,
         "sniff_bytes is sniff_content");
  // The file holds less than its recorded size, or reads come back short.
  check(sniff_content(reader(in, in.size() + 1), std::uint64_t{in.size()} + 4096));
  check(sniff_content(reader(in, 7), in.size()));
  return 0;
}
