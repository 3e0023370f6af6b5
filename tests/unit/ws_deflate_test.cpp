// permessage-deflate (transport/ws_deflate.hpp): negotiation, a message compressed once per
// thread for every connection it goes to, and inflation bounded by the hard limit.
#include "transport/ws_deflate.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <memory>
#include <string>
#include <vector>

namespace parley {
namespace {

namespace http = boost::beast::http;
using frame_ptr = std::shared_ptr<const std::string>;

frame_ptr text_frame(int i) {
  return std::make_shared<const std::string>(
      R"({"ev":{"conv":12,"seq":)" + std::to_string(i) +
      R"(,"type":"message.created","data":{"text":"the plan for today is a review of the deploy"}}})");
}

std::string joined(const std::vector<frame_ptr>& fs) {
  std::string s;
  for (const auto& f : fs) {
    if (!s.empty()) s += '\n';
    s += *f;
  }
  return s;
}

deflate_agreement offer(const std::string& ext, std::string& header,
                        deflate_settings s = deflate_settings{}) {
  http::request<http::string_body> req;
  if (!ext.empty()) req.set(http::field::sec_websocket_extensions, ext);
  return negotiate_deflate(req, s, header);
}

TEST(WsDeflate, NegotiationAlwaysDropsContextTakeover) {
  std::string h;
  auto a = offer("permessage-deflate; client_max_window_bits", h);
  EXPECT_TRUE(a.on);
  EXPECT_EQ(a.server_window_bits, 15);
  EXPECT_EQ(h, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");

  a = offer("permessage-deflate; server_max_window_bits=10", h);
  EXPECT_TRUE(a.on);
  EXPECT_EQ(a.server_window_bits, 10);
  EXPECT_NE(h.find("server_max_window_bits=10"), std::string::npos) << h;

  EXPECT_FALSE(offer("", h).on);
  EXPECT_EQ(h, "");
  EXPECT_FALSE(offer("x-webkit-deflate-frame", h).on);
  EXPECT_FALSE(offer("permessage-deflate; unknown_param", h).on) << "must decline";
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits=16", h).on);
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits=8", h).on)
      << "zlib cannot keep to a 256-byte window: declined";
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits", h).on) << "needs a value";
  EXPECT_FALSE(
      offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover", h).on)
      << "a parameter given twice";
  EXPECT_FALSE(offer("permessage-deflate; foo, x-webkit-deflate-frame", h).on);
  // A bad offer is declined and the next one taken.
  a = offer("permessage-deflate; foo, permessage-deflate; server_max_window_bits=\"12\"", h);
  EXPECT_TRUE(a.on);
  EXPECT_EQ(a.server_window_bits, 12);
  EXPECT_EQ(h,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12");
  a = offer("permessage-deflate; client_max_window_bits=9", h);
  EXPECT_TRUE(a.on);
  EXPECT_EQ(h, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  deflate_settings off;
  off.enabled = false;
  EXPECT_FALSE(offer("permessage-deflate", h, off).on);
  EXPECT_EQ(h, "");
}

TEST(WsDeflate, TheSameFramesAreCompressedOncePerThread) {
  ws_deflater d;
  ws_inflater in;
  std::vector<frame_ptr> batch = {text_frame(1), text_frame(2), text_frame(3)};
  auto bytes = joined(batch);
  auto z1 = d.compress(batch, bytes, 15, 6);
  ASSERT_TRUE(z1);
  EXPECT_LT(z1->size(), bytes.size() / 2);
  // Another connection sending the same shared frames gets the same buffer.
  auto z2 = d.compress(batch, bytes, 15, 6);
  EXPECT_EQ(z1, z2);
  EXPECT_EQ(d.compressed_total(), 1u);
  EXPECT_EQ(d.reused_total(), 1u);
  // Equal bytes in other buffers are other frames: compressed again, with equal output.
  std::vector<frame_ptr> copy = {text_frame(1), text_frame(2), text_frame(3)};
  auto z3 = d.compress(copy, bytes, 15, 6);
  ASSERT_TRUE(z3);
  EXPECT_NE(z1, z3);
  EXPECT_EQ(*z1, *z3) << "no context takeover: a message's compression is independent";
  // A different window is another result too.
  auto z4 = d.compress(batch, bytes, 10, 6);
  EXPECT_EQ(d.compressed_total(), 3u);

  std::string out;
  std::size_t size = 0;
  for (const auto& z : {z1, z4}) {
    ASSERT_EQ(in.inflate(*z, 1 << 20, 1 << 20, out, size), ws_inflater::result::ok);
    EXPECT_EQ(out, bytes);
    EXPECT_EQ(size, bytes.size());
  }
}

TEST(WsDeflate, IncompressibleMessagesAreNotCompressed) {
  ws_deflater d;
  std::string noise;
  std::uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245u + 12345u;
    noise += static_cast<char>(x >> 24);
  }
  std::vector<frame_ptr> one = {std::make_shared<const std::string>(noise)};
  EXPECT_EQ(d.compress(one, noise, 15, 6), nullptr);
}

TEST(WsDeflate, InflationStopsAtTheHardLimit) {
  ws_deflater d;
  ws_inflater in;
  std::string big(4 << 20, 'a');  // 4 MiB that deflate to a few KB
  std::vector<frame_ptr> one = {std::make_shared<const std::string>(big)};
  auto z = d.compress(one, big, 15, 6);
  ASSERT_TRUE(z);
  EXPECT_LT(z->size(), 10000u);
  std::string out;
  std::size_t size = 0;
  EXPECT_EQ(in.inflate(*z, 1000, 1 << 20, out, size), ws_inflater::result::too_big);
  EXPECT_LE(size, (1u << 20) + 16 * 1024) << "stops within a chunk of the limit";
  EXPECT_EQ(out.size(), 1000u) << "keeps only what it was asked to";
  // Above what is kept but within the hard limit: the whole size is known, nothing more kept.
  EXPECT_EQ(in.inflate(*z, 1000, 8 << 20, out, size), ws_inflater::result::ok);
  EXPECT_EQ(size, big.size());
  EXPECT_EQ(out, std::string(1000, 'a'));
  // Garbage is bad data, and the inflater works again afterwards.
  EXPECT_EQ(in.inflate(std::string("\xff\xff\xff\xff\x12\x34", 6), 100, 100, out, size),
            ws_inflater::result::bad_data);
  EXPECT_EQ(in.inflate(*z, 8 << 20, 8 << 20, out, size), ws_inflater::result::ok);
  EXPECT_EQ(out, big);
}

}  // namespace
}  // namespace parley
