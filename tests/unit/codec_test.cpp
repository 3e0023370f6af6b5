// Wire encoding of events and domain objects (docs/protocol.md, "Event object").
#include "core/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley {
namespace {

namespace json = boost::json;

event sample() {
  event e;
  e.conv = 12;
  e.seq = 57;
  e.id = "9f1c0e5a2b7d4c3e8f6a1b2c3d4e5f60";
  e.ts_ms = 1764107000123;
  e.type = "message.created";
  e.sender = 3;
  e.client_msg_id = "c-8812";
  e.data = R"({"text":"hello"})";
  return e;
}

TEST(Codec, EncodesAnEventExactlyAsDocumented) {
  EXPECT_EQ(
      encode_event(sample()),
      R"({"conv":12,"seq":57,"id":"9f1c0e5a2b7d4c3e8f6a1b2c3d4e5f60","ts":1764107000123,)"
      R"("type":"message.created","sender":3,"client_msg_id":"c-8812","data":{"text":"hello"}})");
}

TEST(Codec, OmitsAnEmptyClientMsgId) {
  auto e = sample();
  e.client_msg_id.clear();
  e.type = "conversation.updated";
  e.data = R"({"title":"team"})";
  EXPECT_EQ(encode_event(e),
            R"({"conv":12,"seq":57,"id":"9f1c0e5a2b7d4c3e8f6a1b2c3d4e5f60","ts":1764107000123,)"
            R"("type":"conversation.updated","sender":3,"data":{"title":"team"}})");
}

TEST(Codec, EventFrameWrapsTheEvent) {
  EXPECT_EQ(encode_event_frame(sample()), "{\"ev\":" + encode_event(sample()) + "}");
  auto v = json::parse(encode_event_frame(sample()));
  EXPECT_EQ(v.at("ev").at("seq").as_int64(), 57);
}

TEST(Codec, LargeIntegersAreExact) {
  auto e = sample();
  e.conv = (1LL << 53) - 1;
  e.seq = 9007199254740991;
  e.ts_ms = 4102444800000;
  e.sender = 1234567890123;
  auto v = json::parse(encode_event(e));
  EXPECT_EQ(v.at("conv").as_int64(), e.conv);
  EXPECT_EQ(v.at("seq").as_int64(), e.seq);
  EXPECT_EQ(v.at("ts").as_int64(), e.ts_ms);
  EXPECT_EQ(v.at("sender").as_int64(), e.sender);
}

TEST(Codec, EscapesTypeClientMsgIdAndText) {
  const std::string nasty = std::string("q\" b\\ nl\n cr\r tab\t nul") + '\0' + " bell\x07 /" +
                            " \xE2\x80\xA8 h\xC3\xA9 \xF0\x9F\x98\x80 </script>";
  auto e = sample();
  e.type = nasty;
  e.client_msg_id = nasty;
  e.data = json::serialize(json::object{{"text", nasty}});
  auto wire = encode_event(e);
  // One line, no raw control characters: frames are separated by line feeds.
  for (unsigned char ch : wire) EXPECT_GE(ch, 0x20) << "raw control character in " << wire;
  auto v = json::parse(wire);
  EXPECT_EQ(v.at("type").as_string(), nasty);
  EXPECT_EQ(v.at("client_msg_id").as_string(), nasty);
  EXPECT_EQ(v.at("data").at("text").as_string(), nasty);
  EXPECT_EQ(v.at("id").as_string(), e.id);
}

TEST(Codec, JsonQuote) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote(""), "\"\"");
  EXPECT_EQ(json_quote("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(json_quote("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(json_quote("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(json_quote(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(json_quote("h\xC3\xA9"), "\"h\xC3\xA9\"");  // UTF-8 passes through
}

TEST(Codec, EventArray) {
  EXPECT_EQ(encode_event_array({}), "[]");
  auto a = sample();
  auto b = sample();
  b.seq = 58;
  b.client_msg_id.clear();
  EXPECT_EQ(encode_event_array({a}), "[" + encode_event(a) + "]");
  EXPECT_EQ(encode_event_array({a, b}), "[" + encode_event(a) + "," + encode_event(b) + "]");
  auto v = json::parse(encode_event_array({a, b}));
  ASSERT_EQ(v.as_array().size(), 2u);
  EXPECT_EQ(v.as_array()[1].at("seq").as_int64(), 58);
  EXPECT_FALSE(v.as_array()[1].as_object().contains("client_msg_id"));
}

TEST(Codec, MemberAndConversationObjects) {
  membership m;
  m.conv = 12;
  m.u = {3, "ann"};
  m.role = role::owner;
  m.joined_seq = 1;
  EXPECT_EQ(json::value(member_json(m)),
            json::parse(R"({"id":3,"handle":"ann","role":"owner","joined_seq":1})"));
  EXPECT_EQ(json::value(user_json(m.u)), json::parse(R"({"id":3,"handle":"ann"})"));

  conversation c;
  c.id = 12;
  c.kind = conv_kind::group;
  c.title = "team";
  c.last_seq = 57;
  c.first_seq = 5;
  c.created_ms = 1000;
  EXPECT_EQ(json::value(conversation_json(c, m)),
            json::parse(R"({"id":12,"kind":"group","title":"team","last_seq":57,"first_seq":5,)"
                        R"("created_ms":1000,"role":"owner","joined_seq":1})"));

  // A former member: left_seq is shown and last_seq is capped at it.
  m.role = role::member;
  m.left_seq = 40;
  EXPECT_EQ(json::value(member_json(m)),
            json::parse(R"({"id":3,"handle":"ann","role":"member","joined_seq":1,"left_seq":40})"));
  auto o = conversation_json(c, m);
  EXPECT_EQ(o.at("left_seq").as_int64(), 40);
  EXPECT_EQ(o.at("last_seq").as_int64(), 40);
  EXPECT_EQ(o.at("role").as_string(), "member");
  c.kind = conv_kind::direct;
  EXPECT_EQ(conversation_json(c, m).at("kind").as_string(), "direct");
}

TEST(Codec, JsonQuoteMatchesBoostJsonOnPlainAndEscapedText) {
  for (std::string s :
       {std::string(""), std::string("plain text"), std::string("caf\xc3\xa9 \xf0\x9f\x98\x80"),
        std::string("quote \" back\\slash"), std::string("tab\tnew\nline\x01"),
        std::string("</script>")}) {
    auto want = json::serialize(json::value(json::string(s)));
    EXPECT_EQ(json_quote(s), want) << s;
    std::string out = "x";
    append_json_quoted(out, s);
    EXPECT_EQ(out, "x" + want);
    EXPECT_EQ(json::parse(json_quote(s)).as_string(), s);
  }
}

TEST(Codec, EventArrayIsTheEventsInOrder) {
  auto a = sample();
  auto b = sample();
  b.seq = a.seq + 1;
  b.type = "weird \"type\"";
  EXPECT_EQ(encode_event_array({}), "[]");
  EXPECT_EQ(encode_event_array({a, b}), "[" + encode_event(a) + "," + encode_event(b) + "]");
  EXPECT_EQ(
      json::parse(encode_event_array({a, b})).as_array()[1].as_object().at("type").as_string(),
      "weird \"type\"");
}

}  // namespace
}  // namespace parley
