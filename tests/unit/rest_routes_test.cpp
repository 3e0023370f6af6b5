// The REST route table (docs/protocol.md, "REST"): method and target to operation and
// arguments.
#include "transport/rest_routes.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace parley {
namespace {

namespace json = boost::json;

struct routed {
  route_status status;
  route_match m;
};

routed route(std::string_view method, std::string_view target) {
  routed r;
  r.status = match_route(method, target, r.m);
  return r;
}

TEST(RestRoutes, EveryDocumentedRoute) {
  struct want {
    const char* method;
    const char* target;
    const char* op;
    bool body;
    json::object args;
  };
  const std::vector<want> table = {
      {"POST", "/v1/register", "register", true, {}},
      {"POST", "/v1/login", "login", true, {}},
      {"POST", "/v1/logout", "logout", false, {}},
      {"GET", "/v1/conversations", "conv.list", false, {}},
      {"POST", "/v1/conversations", "conv.create", true, {}},
      {"GET", "/v1/conversations/12", "conv.get", false, {{"conv", "12"}}},
      {"PATCH", "/v1/conversations/12", "conv.update", true, {{"conv", "12"}}},
      {"POST", "/v1/conversations/12/members", "members.add", true, {{"conv", "12"}}},
      {"PATCH",
       "/v1/conversations/12/members/bob",
       "members.set_role",
       true,
       {{"conv", "12"}, {"user", "bob"}}},
      {"DELETE",
       "/v1/conversations/12/members/bob",
       "members.remove",
       false,
       {{"conv", "12"}, {"user", "bob"}}},
      {"POST", "/v1/conversations/12/messages", "send", true, {{"conv", "12"}}},
      {"GET", "/v1/conversations/12/events", "history", false, {{"conv", "12"}}},
      {"GET", "/v1/conversations/12/messages", "messages", false, {{"conv", "12"}}},
      {"PATCH", "/v1/conversations/12/messages/7", "edit", true, {{"conv", "12"}, {"msg", "7"}}},
      {"DELETE",
       "/v1/conversations/12/messages/7",
       "delete",
       false,
       {{"conv", "12"}, {"msg", "7"}}},
      {"GET",
       "/v1/conversations/12/messages/7/edits",
       "edits",
       false,
       {{"conv", "12"}, {"msg", "7"}}},
      {"PUT",
       "/v1/conversations/12/messages/7/reactions/%F0%9F%91%8D",
       "react",
       false,
       {{"conv", "12"}, {"msg", "7"}, {"emoji", "\xF0\x9F\x91\x8D"}}},
      {"DELETE",
       "/v1/conversations/12/messages/7/reactions/%F0%9F%91%8D",
       "unreact",
       false,
       {{"conv", "12"}, {"msg", "7"}, {"emoji", "\xF0\x9F\x91\x8D"}}},
      {"GET", "/v1/conversations/12/threads/3", "thread", false, {{"conv", "12"}, {"thread", "3"}}},
      {"PUT",
       "/v1/conversations/12/threads/3/follow",
       "follow",
       false,
       {{"conv", "12"}, {"thread", "3"}}},
      {"DELETE",
       "/v1/conversations/12/threads/3/follow",
       "unfollow",
       false,
       {{"conv", "12"}, {"thread", "3"}}},
      {"POST", "/v1/conversations/12/read", "read", true, {{"conv", "12"}}},
      {"GET", "/v1/threads", "threads", false, {}},
      {"POST", "/v1/ack", "ack", true, {}},
      {"GET", "/v1/conversations/12/receipts", "receipts", false, {{"conv", "12"}}},
      {"POST", "/v1/conversations/12/typing", "typing", true, {{"conv", "12"}}},
      {"GET", "/v1/presence", "presence.get", false, {}},
      {"GET", "/v1/settings", "settings", false, {}},
      {"PATCH", "/v1/settings", "settings", true, {}},
  };
  for (const auto& w : table) {
    SCOPED_TRACE(std::string(w.method) + " " + w.target);
    auto r = route(w.method, w.target);
    ASSERT_EQ(r.status, route_status::ok);
    EXPECT_EQ(r.m.op, w.op);
    EXPECT_EQ(r.m.takes_body, w.body);
    EXPECT_EQ(r.m.args, w.args) << json::serialize(r.m.args);
  }
}

TEST(RestRoutes, UnknownPathsAreNotFound) {
  for (const char* target :
       {"/", "/v1", "/v2/register", "/v1/registers", "/v1/conversations/12/unknown",
        "/v1/conversations/12/members/bob/extra", "/v1/conversations/12/events/3", "/V1/register",
        "/v1/conversations/12/messages/7/x", "/v1/conversations/12/threads"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(route("GET", target).status, route_status::not_found);
    EXPECT_EQ(route("POST", target).status, route_status::not_found);
  }
}

TEST(RestRoutes, KnownPathWithAnotherMethodIsMethodNotAllowed) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"GET", "/v1/register"},
      {"GET", "/v1/login"},
      {"DELETE", "/v1/logout"},
      {"DELETE", "/v1/conversations"},
      {"PUT", "/v1/conversations"},
      {"POST", "/v1/conversations/12"},
      {"DELETE", "/v1/conversations/12"},
      {"GET", "/v1/conversations/12/members"},
      {"POST", "/v1/conversations/12/members/bob"},
      {"GET", "/v1/conversations/12/members/bob"},
      {"PUT", "/v1/conversations/12/messages"},
      {"POST", "/v1/conversations/12/events"},
      {"POST", "/v1/conversations/12/messages/7"},
      {"GET", "/v1/conversations/12/messages/7/reactions/x"},
      {"POST", "/v1/conversations/12/threads/3/follow"},
      {"GET", "/v1/conversations/12/read"},
      {"POST", "/v1/threads"},
      {"get", "/v1/conversations"},  // methods are case-sensitive
  };
  for (const auto& [method, target] : cases) {
    SCOPED_TRACE(std::string(method) + " " + target);
    EXPECT_EQ(route(method, target).status, route_status::method_not_allowed);
  }
}

TEST(RestRoutes, QueryStringBecomesArguments) {
  auto r = route("GET", "/v1/conversations/12/events?before=10&limit=3");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.op, "history");
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"before", "10"}, {"limit", "3"}}));

  r = route("GET", "/v1/conversations/12/events?after=5");
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"after", "5"}}));

  // Empty pairs are skipped; a key without '=' has an empty value; the first value wins.
  r = route("GET", "/v1/conversations/12/events?&&limit=2&&flag&limit=9&");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"limit", "2"}, {"flag", ""}}));

  r = route("GET", "/v1/conversations?");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_TRUE(r.m.args.empty());

  // The query does not take part in matching the path.
  EXPECT_EQ(route("GET", "/v1/unknown?x=1").status, route_status::not_found);
  EXPECT_EQ(route("DELETE", "/v1/conversations?x=1").status, route_status::method_not_allowed);
}

TEST(RestRoutes, QueryAndPathArePercentDecoded) {
  auto r = route("GET", "/v1/conversations/12/events?%6Cimit=%31%32&after=1%30");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"limit", "12"}, {"after", "10"}}));

  r = route("GET", "/v1/conversations/12/events?q=a+b%20c%2Bd%26e%3Df");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.args.at("q").as_string(), "a b c+d&e=f");

  r = route("DELETE", "/v1/conversations/%31%32/members/b%6Fb");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.op, "members.remove");
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"user", "bob"}}));

  // A malformed escape is never passed on as an argument.
  EXPECT_NE(route("GET", "/v1/conversations/12/events?limit=%zz").status, route_status::ok);
  EXPECT_NE(route("GET", "/v1/conversations/12/events?limit=%4").status, route_status::ok);
  EXPECT_NE(route("GET", "/v1/conversations/%g1").status, route_status::ok);
}

TEST(RestRoutes, PathParametersWinOverTheQuery) {
  auto r = route("GET", "/v1/conversations/12/events?conv=99&limit=1");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"limit", "1"}}));
  r = route("PATCH", "/v1/conversations/12/members/bob?user=mallory&conv=1");
  ASSERT_EQ(r.status, route_status::ok);
  EXPECT_EQ(r.m.args, (json::object{{"conv", "12"}, {"user", "bob"}}));
}

TEST(UrlDecode, DecodesAndRejectsMalformedEscapes) {
  std::string out;
  EXPECT_TRUE(url_decode("plain", out));
  EXPECT_EQ(out, "plain");
  EXPECT_TRUE(url_decode("", out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(url_decode("a%20b+c", out));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(url_decode("%41%4a%4A", out));
  EXPECT_EQ(out, "AJJ");
  EXPECT_TRUE(url_decode("%C3%A9", out));
  EXPECT_EQ(out, "\xC3\xA9");
  EXPECT_TRUE(url_decode("%00", out));
  EXPECT_EQ(out, std::string(1, '\0'));
  EXPECT_TRUE(url_decode("100%25", out));
  EXPECT_EQ(out, "100%");
  EXPECT_FALSE(url_decode("%", out));
  EXPECT_FALSE(url_decode("%4", out));
  EXPECT_FALSE(url_decode("a%", out));
  EXPECT_FALSE(url_decode("%G0", out));
  EXPECT_FALSE(url_decode("%0G", out));
}

}  // namespace
}  // namespace parley

namespace parley {
namespace {

TEST(ByteRange, SingleRangesOfEachForm) {
  std::uint64_t a = 0, b = 0;
  EXPECT_EQ(parse_byte_range("bytes=0-9", 100, a, b), range_status::partial);
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 9u);
  EXPECT_EQ(parse_byte_range("bytes=90-", 100, a, b), range_status::partial);
  EXPECT_EQ(a, 90u);
  EXPECT_EQ(b, 99u);
  EXPECT_EQ(parse_byte_range("bytes=-5", 100, a, b), range_status::partial);
  EXPECT_EQ(a, 95u);
  EXPECT_EQ(b, 99u);
  EXPECT_EQ(parse_byte_range("bytes=-500", 100, a, b), range_status::partial);  // all of it
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(parse_byte_range("bytes=50-5000", 100, a, b), range_status::partial);  // clipped
  EXPECT_EQ(b, 99u);
}

TEST(ByteRange, UnsatisfiableAndIgnoredForms) {
  std::uint64_t a = 0, b = 0;
  EXPECT_EQ(parse_byte_range("bytes=100-", 100, a, b), range_status::unsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=-0", 100, a, b), range_status::unsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=0-", 0, a, b), range_status::unsatisfiable);
  // Served whole: several ranges, other units, malformed, reversed.
  EXPECT_EQ(parse_byte_range("bytes=0-1,5-6", 100, a, b), range_status::whole);
  EXPECT_EQ(parse_byte_range("items=0-1", 100, a, b), range_status::whole);
  EXPECT_EQ(parse_byte_range("bytes=x-1", 100, a, b), range_status::whole);
  EXPECT_EQ(parse_byte_range("bytes=9-1", 100, a, b), range_status::whole);
  EXPECT_EQ(parse_byte_range("bytes=99999999999999999999-", 100, a, b), range_status::whole);
}

TEST(ContentDisposition, NamesAreQuotedSafelyAndPercentEncoded) {
  EXPECT_EQ(content_disposition(true, ""), "inline");
  EXPECT_EQ(content_disposition(false, "a b\".pdf"),
            "attachment; filename=\"a b_.pdf\"; filename*=UTF-8''a%20b%22.pdf");
  EXPECT_EQ(content_disposition(true, "é.png"),
            "inline; filename=\"__.png\"; filename*=UTF-8''%C3%A9.png");
}

}  // namespace
}  // namespace parley

namespace parley {
namespace {

TEST(QueryValue, FirstWellFormedValueDecoded) {
  EXPECT_EQ(query_value("/v1/poll?cursor=12.5-13.4&timeout_ms=10", "cursor"), "12.5-13.4");
  EXPECT_EQ(query_value("/v1/uploads/x?name=r%C3%A9d+cat.png", "name"), "réd cat.png");
  EXPECT_EQ(query_value("/v1/poll?a=%zz&a=2", "a"), "2");  // the malformed one is skipped
  EXPECT_EQ(query_value("/v1/poll", "cursor"), "");
  EXPECT_EQ(query_value("/v1/poll?cursor", "cursor"), "");
}

}  // namespace
}  // namespace parley
