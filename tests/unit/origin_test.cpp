// server.allowed_origins (transport/origin.hpp): the server's own origin, a list, "*", and
// requests that are not from a browser.
#include "transport/origin.hpp"

#include <gtest/gtest.h>

namespace parley {
namespace {

TEST(Origin, WithoutAnOriginHeaderEverythingIsAllowed) {
  EXPECT_TRUE(origin_allowed("", "", "chat.example.com"));
  EXPECT_TRUE(origin_allowed("https://a.example", "", "chat.example.com"));
}

TEST(Origin, TheDefaultIsTheServersOwnOriginOnly) {
  EXPECT_TRUE(origin_allowed("", "http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_TRUE(origin_allowed("", "https://chat.example.com", "chat.example.com"));
  EXPECT_TRUE(origin_allowed("", "http://chat.example.com:80", "chat.example.com"));
  EXPECT_TRUE(origin_allowed("", "https://chat.example.com", "chat.example.com:443"));
  EXPECT_TRUE(origin_allowed("", "HTTPS://Chat.Example.com", "chat.example.com"));
  EXPECT_FALSE(origin_allowed("", "http://evil.example", "chat.example.com"));
  EXPECT_FALSE(origin_allowed("", "http://127.0.0.1:8081", "127.0.0.1:8080"));
  EXPECT_FALSE(origin_allowed("", "http://chat.example.com.evil.example", "chat.example.com"));
  EXPECT_FALSE(origin_allowed("", "null", "chat.example.com"));
  EXPECT_FALSE(origin_allowed("", "chat.example.com", "chat.example.com")) << "not an origin";
  EXPECT_FALSE(origin_allowed("", "http://chat.example.com", "")) << "no Host: nothing matches";
}

TEST(Origin, AListAllowsExactlyItsOrigins) {
  const char* list = "https://a.example, https://b.example:8443 ,http://localhost:3000";
  EXPECT_TRUE(origin_allowed(list, "https://a.example", "chat.example.com"));
  EXPECT_TRUE(origin_allowed(list, "https://b.example:8443", "chat.example.com"));
  EXPECT_TRUE(origin_allowed(list, "http://localhost:3000", "chat.example.com"));
  EXPECT_FALSE(origin_allowed(list, "http://a.example", "chat.example.com")) << "scheme counts";
  EXPECT_FALSE(origin_allowed(list, "https://b.example", "chat.example.com")) << "port counts";
  EXPECT_FALSE(origin_allowed(list, "https://a.example.evil", "chat.example.com"));
  EXPECT_TRUE(origin_allowed(list, "https://chat.example.com", "chat.example.com"))
      << "the own origin still works";
}

TEST(Origin, AStarAllowsAnyOrigin) {
  EXPECT_TRUE(origin_allowed("*", "http://evil.example", "chat.example.com"));
  EXPECT_TRUE(origin_allowed(" * ", "null", "chat.example.com"));
}

}  // namespace
}  // namespace parley
