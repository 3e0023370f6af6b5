// Attachments against the real binary: uploads stream to disk content-addressed and
// deduplicated, with a size limit and a sniffed type; downloads are for members of a
// conversation whose messages carry the upload (and its uploader), with byte ranges;
// a delete detaches, and uploads no message carries are removed after their grace period.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The start of a PNG whose header gives its dimensions (the sniffer reads only IHDR).
std::string png_header(std::uint32_t w, std::uint32_t h, const std::string& tail) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  s += std::string("\x00\x00\x00\x0dIHDR", 8);
  for (auto v : {w, h})
    for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((v >> sh) & 0xFF);
  s += std::string("\x08\x02\x00\x00\x00", 5);
  return s + tail;
}

json::object upload(std::uint16_t port, const std::string& token, const std::string& bytes) {
  auto r = http_raw(port, "POST", "/v1/uploads", bytes, token, {});
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json().as_object()["upload"].as_object();
}

std::size_t object_files(const std::string& data_dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(data_dir + "/data/uploads/objects"))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST(Attachments, UploadSniffsDeduplicatesAndServesMembersWithRanges) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto eve = register_and_login(srv.port(), "eve");
  const std::string image = png_header(640, 480, std::string(5000, 'x'));

  auto up = upload(srv.port(), ann.token, image);
  EXPECT_EQ(up["size"].as_int64(), static_cast<std::int64_t>(image.size()));
  EXPECT_EQ(up["type"].as_string(), "image/png");
  EXPECT_EQ(up["width"].as_int64(), 640);
  EXPECT_EQ(up["height"].as_int64(), 480);
  std::string id(up["id"].as_string());
  EXPECT_EQ(id.size(), 64u);
  // The same bytes again, from someone else: the same id, one file on disk.
  auto again = upload(srv.port(), eve.token, image);
  EXPECT_EQ(again["id"].as_string(), id);
  EXPECT_EQ(object_files(srv.data_dir()), 1u);
  // A client's claimed type counts for nothing; HTML is served as plain text.
  auto html = http_raw(srv.port(), "POST", "/v1/uploads", "<script>alert(1)</script>", ann.token,
                       {{"Content-Type", "text/html"}});
  EXPECT_EQ(html.json().as_object()["upload"].as_object()["type"].as_string(),
            "text/plain; charset=utf-8");

  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto sent =
      a->call({{"op", "send"},
               {"conv", conv},
               {"client_msg_id", "p1"},
               {"attachments", json::array{json::object{{"id", id}, {"name", "cat.png"}}}}});
  auto seq = sent["seq"].as_int64();
  auto page = a->call({{"op", "messages"}, {"conv", conv}});
  auto& m = page["messages"].as_array().back().as_object();
  ASSERT_EQ(m["seq"].as_int64(), seq);
  auto& att = m["attachments"].as_array().at(0).as_object();
  EXPECT_EQ(att["id"].as_string(), id);
  EXPECT_EQ(att["name"].as_string(), "cat.png");
  EXPECT_EQ(att["width"].as_int64(), 640);

  // Bob (a member) downloads it whole, and in ranges.
  auto whole =
      http_raw(srv.port(), "GET", "/v1/uploads/" + id + "?name=cat.png", "", bob.token, {});
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, image);
  EXPECT_EQ(whole.header("content-type"), "image/png");
  EXPECT_EQ(whole.header("x-content-type-options"), "nosniff");
  EXPECT_NE(whole.header("content-disposition").find("cat.png"), std::string::npos);
  auto part =
      http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", bob.token, {{"Range", "bytes=1-3"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, "PNG");
  EXPECT_EQ(part.header("content-range"), "bytes 1-3/" + std::to_string(image.size()));
  auto tail =
      http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", bob.token, {{"Range", "bytes=-4"}});
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, "xxxx");
  auto beyond =
      http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", bob.token, {{"Range", "bytes=999999-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.header("content-range"), "bytes */" + std::to_string(image.size()));
  auto head = http_raw(srv.port(), "HEAD", "/v1/uploads/" + id, "", bob.token, {});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(image.size()));
  auto cached = http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", bob.token,
                         {{"If-None-Match", "\"" + id + "\""}});
  EXPECT_EQ(cached.status, 304);

  // A stranger, someone without a login, and a made-up id all get nothing.
  auto carol = register_and_login(srv.port(), "carol");
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", carol.token, {}).status, 404);
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", "", {}).status, 401);
  EXPECT_EQ(
      http_raw(srv.port(), "GET", "/v1/uploads/" + std::string(64, 'a'), "", ann.token, {}).status,
      404);
  // Eve uploaded the same bytes herself: she may fetch what she has.
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", eve.token, {}).status, 200);

  // Knowing an id is not enough to attach it: carol never uploaded it and sees no message
  // carrying it. Bob can forward it: he sees it in the group.
  auto c = connect_live(srv.port(), carol.token);
  auto own = create_group(*c, "mine", {});
  auto refused = c->request({{"op", "send"},
                             {"conv", own},
                             {"client_msg_id", "c1"},
                             {"attachments", json::array{json::object{{"id", id}}}}});
  EXPECT_EQ(refused["error"].as_object()["code"].as_string(), "not_found");
  auto b = connect_live(srv.port(), bob.token);
  auto direct = b->call({{"op", "conv.create"}, {"kind", "direct"}, {"peer", "carol"}});
  auto dconv = direct["conversation"].as_object()["id"].as_int64();
  b->call({{"op", "send"},
           {"conv", dconv},
           {"client_msg_id", "b1"},
           {"text", "look"},
           {"attachments", json::array{json::object{{"id", id}, {"name", "fwd.png"}}}}});
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", carol.token, {}).status, 200);
}

TEST(Attachments, LimitsAndBadRequests) {
  server_process srv(
      {"--set", "limits.max_upload_bytes=1000", "--set", "limits.max_attachments=2"});
  auto ann = register_and_login(srv.port(), "ann");
  auto big = http_raw(srv.port(), "POST", "/v1/uploads", std::string(1001, 'a'), ann.token, {});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json().as_object()["error"].as_object()["code"].as_string(), "too_large");
  EXPECT_EQ(http_raw(srv.port(), "POST", "/v1/uploads", "abc", "", {}).status, 401);
  EXPECT_EQ(http_raw(srv.port(), "PUT", "/v1/uploads", "abc", ann.token, {}).status, 405);
  // Nothing half-written stays behind.
  EXPECT_TRUE(fs::is_empty(srv.data_dir() + "/data/uploads/tmp"));
  EXPECT_EQ(object_files(srv.data_dir()), 0u);

  auto ids = std::vector<std::string>{};
  for (auto s : {"one", "two", "three"})
    ids.emplace_back(upload(srv.port(), ann.token, s)["id"].as_string());
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  json::array three;
  for (auto& id : ids) three.push_back(json::object{{"id", id}});
  auto r =
      a->request({{"op", "send"}, {"conv", conv}, {"client_msg_id", "x1"}, {"attachments", three}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "too_large");
  r = a->request({{"op", "send"},
                  {"conv", conv},
                  {"client_msg_id", "x2"},
                  {"attachments", json::array{json::object{{"id", ids[0]}, {"name", "../etc"}}}}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "invalid");
  r = a->request({{"op", "send"}, {"conv", conv}, {"client_msg_id", "x3"}, {"text", ""}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "invalid");
}

TEST(Attachments, UnreferencedUploadsAreRemovedAfterTheGracePeriod) {
  server_process srv({"--set", "limits.upload_grace_s=1", "--set", "store.upload_gc_s=1"});
  auto ann = register_and_login(srv.port(), "ann");
  auto kept = std::string(upload(srv.port(), ann.token, "kept bytes")["id"].as_string());
  auto lost = std::string(upload(srv.port(), ann.token, "never attached")["id"].as_string());
  auto gone = std::string(upload(srv.port(), ann.token, "attached then deleted")["id"].as_string());
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  a->call({{"op", "send"},
           {"conv", conv},
           {"client_msg_id", "k"},
           {"attachments", json::array{json::object{{"id", kept}}}}});
  auto del = a->call({{"op", "send"},
                      {"conv", conv},
                      {"client_msg_id", "d"},
                      {"attachments", json::array{json::object{{"id", gone}}}}})["seq"]
                 .as_int64();
  a->call({{"op", "delete"}, {"conv", conv}, {"msg", del}});
  EXPECT_EQ(object_files(srv.data_dir()), 3u);
  auto exists = [&](const std::string& id) {
    return fs::exists(srv.data_dir() + "/data/uploads/objects/" + id.substr(0, 2) + "/" + id);
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((exists(lost) || exists(gone)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(exists(lost));
  EXPECT_FALSE(exists(gone));
  EXPECT_TRUE(exists(kept));
  // The uploader can no longer fetch what is gone, and still fetches what is kept.
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + lost, "", ann.token, {}).status, 404);
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + kept, "", ann.token, {}).body,
            "kept bytes");
  // Uploading removed content again brings it back.
  EXPECT_EQ(upload(srv.port(), ann.token, "never attached")["id"].as_string(), lost);
  EXPECT_TRUE(exists(lost));
}

TEST(Attachments, AttachedMessagesArriveOnResumeAndSurviveARestart) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto id = std::string(upload(srv.port(), ann.token, png_header(2, 3, "z"))["id"].as_string());
  std::int64_t conv = 0, seen = 0;
  {
    auto a = connect_live(srv.port(), ann.token);
    conv = create_group(*a, "g", {"bob"});
    ws_client b(srv.port(), bob.token);
    b.call({{"op", "sync"}, {"since", since(conv, 0)}});
    seen = b.events(1).back()["seq"].as_int64();
  }
  {
    auto a = connect_live(srv.port(), ann.token);
    a->call({{"op", "send"},
             {"conv", conv},
             {"client_msg_id", "r1"},
             {"text", "pic"},
             {"attachments", json::array{json::object{{"id", id}, {"name", "p.png"}}}}});
  }
  srv.stop();
  srv.start();
  ws_client b(srv.port(), bob.token);
  b.call({{"op", "sync"}, {"since", since(conv, seen)}});
  auto ev = b.events(1).at(0);
  auto& data = ev["data"].as_object();
  auto& att = data["attachments"].as_array().at(0).as_object();
  EXPECT_EQ(att["id"].as_string(), id);
  EXPECT_EQ(att["name"].as_string(), "p.png");
  EXPECT_EQ(att["type"].as_string(), "image/png");
  EXPECT_EQ(att["width"].as_int64(), 2);
  EXPECT_EQ(http_raw(srv.port(), "GET", "/v1/uploads/" + id, "", bob.token, {}).status, 200);
}
