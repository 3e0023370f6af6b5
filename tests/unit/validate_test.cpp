#include "core/validate.hpp"

#include <gtest/gtest.h>

using namespace parley;

TEST(Validate, HandlesAreNormalizedAndChecked) {
  EXPECT_EQ(*normalize_handle("Alice_1"), "alice_1");
  EXPECT_FALSE(normalize_handle("ab"));
  EXPECT_FALSE(normalize_handle(std::string(33, 'a')));
  EXPECT_FALSE(normalize_handle("al ice"));
  EXPECT_FALSE(normalize_handle("_alice"));
  EXPECT_FALSE(normalize_handle("al\xC3\xA9"));
  EXPECT_EQ(normalize_handle("x").err().field, "handle");
}

TEST(Validate, TextRejectsControlCharactersAndBadUtf8) {
  EXPECT_TRUE(check_text("hi\nthere\tyou", "text", 1, 100, true));
  EXPECT_FALSE(check_text("hi\nthere", "text", 1, 100, false));
  EXPECT_FALSE(check_text(std::string("a\0b", 3), "text", 1, 100, true));
  EXPECT_FALSE(check_text("bell\x07", "text", 1, 100, true));
  EXPECT_FALSE(check_text("\x7f", "text", 1, 100, true));
  EXPECT_FALSE(check_text("\xC2\x85", "text", 1, 100, true));          // NEL, a C1 control
  EXPECT_FALSE(check_text("\xC0\xAF", "text", 1, 100, true));          // overlong
  EXPECT_FALSE(check_text("\xED\xA0\x80", "text", 1, 100, true));      // surrogate
  EXPECT_FALSE(check_text("\xF4\x90\x80\x80", "text", 1, 100, true));  // > U+10FFFF
  EXPECT_TRUE(check_text("h\xC3\xA9 \xF0\x9F\x98\x80", "text", 1, 100, true));
  EXPECT_FALSE(check_text("", "text", 1, 100, true));
  auto big = check_text(std::string(101, 'a'), "text", 1, 100, true);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.err().code, errc::too_large);
}

TEST(Validate, ClientMsgIds) {
  EXPECT_TRUE(check_client_msg_id("abc-123_x.y:z"));
  EXPECT_FALSE(check_client_msg_id(""));
  EXPECT_FALSE(check_client_msg_id(std::string(65, 'a')));
  EXPECT_FALSE(check_client_msg_id("a b"));
}

TEST(Validate, FileNamesAndUploadIds) {
  EXPECT_EQ(*check_file_name("photo 1.png", "name"), "photo 1.png");
  EXPECT_TRUE(check_file_name("résumé.pdf", "name"));
  EXPECT_FALSE(check_file_name("", "name"));
  EXPECT_FALSE(check_file_name("a/b", "name"));
  EXPECT_FALSE(check_file_name("a\\b", "name"));
  EXPECT_FALSE(check_file_name("..", "name"));
  EXPECT_FALSE(check_file_name("a\nb", "name"));
  EXPECT_EQ(check_file_name(std::string(256, 'a'), "name").err().code, errc::too_large);
  EXPECT_TRUE(valid_upload_id(std::string(64, 'f')));
  EXPECT_FALSE(valid_upload_id(std::string(64, 'F')));
  EXPECT_FALSE(valid_upload_id(std::string(63, 'a')));
  EXPECT_FALSE(valid_upload_id(std::string(63, 'a') + "g"));
}
