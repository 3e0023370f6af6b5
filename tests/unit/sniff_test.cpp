// Content sniffing (core/sniff.hpp): types from the bytes, image dimensions from headers,
// markup never recognized as anything a browser would run.
#include "core/sniff.hpp"

#include <gtest/gtest.h>

#include <string>

namespace parley {
namespace {

std::string be32(std::uint32_t v) {
  std::string s;
  for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((v >> sh) & 0xFF);
  return s;
}
std::string be16(std::uint32_t v) {
  return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}
std::string le16(std::uint32_t v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF)};
}
std::string le24(std::uint32_t v) {
  return le16(v) + static_cast<char>((v >> 16) & 0xFF);
}

TEST(Sniff, PngGifAndWebpDimensions) {
  auto png = std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16) + be32(1920) + be32(1080);
  auto s = sniff_bytes(png + std::string(20, '\0'));
  EXPECT_EQ(s.type, "image/png");
  EXPECT_EQ(s.width, 1920);
  EXPECT_EQ(s.height, 1080);

  s = sniff_bytes("GIF89a" + le16(300) + le16(200) + std::string(10, '\0'));
  EXPECT_EQ(s.type, "image/gif");
  EXPECT_EQ(s.width, 300);
  EXPECT_EQ(s.height, 200);

  auto vp8x = std::string("RIFF\0\0\0\0WEBPVP8X", 16) + std::string(8, '\0') + le24(4095) +
              le24(2047) + std::string(4, '\0');
  s = sniff_bytes(vp8x);
  EXPECT_EQ(s.type, "image/webp");
  EXPECT_EQ(s.width, 4096);
  EXPECT_EQ(s.height, 2048);

  // VP8L: 14-bit width-1 and height-1 packed after the 0x2F signature byte.
  std::uint32_t w1 = 99, h1 = 49, bits = w1 | (h1 << 14);
  auto vp8l =
      std::string("RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f", 21) +
      std::string{static_cast<char>(bits & 0xFF), static_cast<char>((bits >> 8) & 0xFF),
                  static_cast<char>((bits >> 16) & 0xFF), static_cast<char>((bits >> 24) & 0xFF)} +
      std::string(8, '\0');
  s = sniff_bytes(vp8l);
  EXPECT_EQ(s.type, "image/webp");
  EXPECT_EQ(s.width, 100);
  EXPECT_EQ(s.height, 50);
}

TEST(Sniff, JpegDimensionsComeFromTheFrameHeaderAfterOtherSegments) {
  std::string j("\xFF\xD8", 2);
  j += std::string("\xFF\xE0", 2) + be16(16) + std::string(14, 'J');     // APP0
  j += std::string("\xFF\xE1", 2) + be16(1000) + std::string(998, 'E');  // a big APP1
  j += std::string("\xFF\xDB", 2) + be16(4) + "qq";                      // DQT
  j += std::string("\xFF\xC2", 2) + be16(11) + "\x08" + be16(768) + be16(1024) + "\x03";
  j += std::string("\xFF\xDA", 2) + be16(2);
  auto s = sniff_bytes(j);
  EXPECT_EQ(s.type, "image/jpeg");
  EXPECT_EQ(s.width, 1024);
  EXPECT_EQ(s.height, 768);
  // A truncated JPEG is still a JPEG, without dimensions.
  s = sniff_bytes(j.substr(0, 40));
  EXPECT_EQ(s.type, "image/jpeg");
  EXPECT_EQ(s.width, 0);
}

TEST(Sniff, OtherFormatsByTheirSignatures) {
  EXPECT_EQ(sniff_bytes("%PDF-1.7\n...").type, "application/pdf");
  EXPECT_EQ(sniff_bytes(std::string("PK\x03\x04rest", 8)).type, "application/zip");
  EXPECT_EQ(sniff_bytes(std::string("\x1f\x8b\x08\0\0", 5)).type, "application/gzip");
  EXPECT_EQ(sniff_bytes(std::string("\0\0\0\x18"
                                    "ftypisom\0\0\0\0",
                                    16))
                .type,
            "video/mp4");
  EXPECT_EQ(sniff_bytes(std::string("\0\0\0\x18"
                                    "ftypqt  \0\0\0\0",
                                    16))
                .type,
            "video/quicktime");
  EXPECT_EQ(sniff_bytes(std::string("\0\0\0\x18"
                                    "ftypheic\0\0\0\0",
                                    16))
                .type,
            "image/heic");
  EXPECT_EQ(sniff_bytes(std::string("\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm", 12)).type,
            "video/webm");
  EXPECT_EQ(sniff_bytes("ID3\x04rest").type, "audio/mpeg");
  EXPECT_EQ(sniff_bytes(std::string("\xff\xfb\x90\x64rest", 8)).type, "audio/mpeg");
  EXPECT_EQ(sniff_bytes("OggS\0rest").type, "audio/ogg");
  EXPECT_EQ(sniff_bytes(std::string("RIFF\0\0\0\0WAVEfmt ", 16)).type, "audio/wav");
  EXPECT_EQ(sniff_bytes("fLaC....").type, "audio/flac");
}

TEST(Sniff, TextIsUtf8WithoutControlBytesAndMarkupIsOnlyText) {
  EXPECT_EQ(sniff_bytes("hello\nworld\t✓").type, "text/plain; charset=utf-8");
  EXPECT_EQ(sniff_bytes("<html><script>alert(1)</script></html>").type,
            "text/plain; charset=utf-8");
  EXPECT_EQ(sniff_bytes("<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>").type,
            "text/plain; charset=utf-8");
  EXPECT_EQ(sniff_bytes(std::string("bin\0ary", 7)).type, "application/octet-stream");
  EXPECT_EQ(sniff_bytes("\xff\xfe\xfd not utf-8").type, "application/octet-stream");
  EXPECT_EQ(sniff_bytes("").type, "application/octet-stream");
  // A long text whose 8 KiB probe ends inside a multi-byte character is still text.
  std::string t(8191, 'a');
  t += "é and more";
  EXPECT_EQ(sniff_bytes(t).type, "text/plain; charset=utf-8");
}

TEST(Sniff, OnlyMediaAndPlainTextAreShownInline) {
  EXPECT_TRUE(inline_type("image/png"));
  EXPECT_TRUE(inline_type("video/mp4"));
  EXPECT_TRUE(inline_type("text/plain; charset=utf-8"));
  EXPECT_FALSE(inline_type("application/pdf"));
  EXPECT_FALSE(inline_type("application/octet-stream"));
}

}  // namespace
}  // namespace parley
