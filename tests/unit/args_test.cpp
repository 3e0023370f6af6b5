// Typed access to request arguments (core/args): errors are errc::invalid naming the field.
#include "core/args.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace parley {
namespace {

namespace json = boost::json;

json::object obj(const char* text) {
  return json::parse(text).as_object();
}

void expect_invalid(const error& e, const std::string& field, const std::string& says) {
  EXPECT_EQ(e.code, errc::invalid);
  EXPECT_EQ(e.field, field);
  EXPECT_NE(e.message.find(field), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(says), std::string::npos) << e.message;
}

TEST(Args, Strings) {
  auto a = obj(R"({"name":"ann","empty":"","num":5,"nul":null,"arr":["x"],"uni":"h\u00e9"})");
  EXPECT_EQ(*args::str(a, "name"), "ann");
  EXPECT_EQ(*args::str(a, "empty"), "");
  EXPECT_EQ(*args::str(a, "uni"), "h\xC3\xA9");
  expect_invalid(args::str(a, "missing").err(), "missing", "required");
  expect_invalid(args::str(a, "nul").err(), "nul", "required");  // null counts as absent
  expect_invalid(args::str(a, "num").err(), "num", "must be a string");
  expect_invalid(args::str(a, "arr").err(), "arr", "must be a string");

  auto o = args::opt_str(a, "name");
  ASSERT_TRUE(o);
  EXPECT_EQ(**o, "ann");
  ASSERT_TRUE(args::opt_str(a, "missing"));
  EXPECT_FALSE(*args::opt_str(a, "missing"));
  EXPECT_FALSE(*args::opt_str(a, "nul"));
  expect_invalid(args::opt_str(a, "num").err(), "num", "must be a string");
}

TEST(Args, Integers) {
  auto a = obj(R"({"i":42,"neg":-7,"zero":0,"big":9007199254740993,"u":18446744073709551615,
                  "d":1.5,"b":true,"s":"x","nul":null,"o":{}})");
  EXPECT_EQ(*args::i64(a, "i"), 42);
  EXPECT_EQ(*args::i64(a, "neg"), -7);
  EXPECT_EQ(*args::i64(a, "zero"), 0);
  EXPECT_EQ(*args::i64(a, "big"), 9007199254740993);                   // exact, not via double
  expect_invalid(args::i64(a, "u").err(), "u", "must be an integer");  // beyond int64
  expect_invalid(args::i64(a, "d").err(), "d", "must be an integer");
  expect_invalid(args::i64(a, "b").err(), "b", "must be an integer");
  expect_invalid(args::i64(a, "s").err(), "s", "must be an integer");
  expect_invalid(args::i64(a, "o").err(), "o", "must be an integer");
  expect_invalid(args::i64(a, "missing").err(), "missing", "required");
  expect_invalid(args::i64(a, "nul").err(), "nul", "required");

  json::object u;
  u["u"] = static_cast<std::uint64_t>(INT64_MAX);
  EXPECT_EQ(*args::i64(u, "u"), INT64_MAX);

  ASSERT_TRUE(args::opt_i64(a, "missing"));
  EXPECT_FALSE(*args::opt_i64(a, "missing"));
  EXPECT_FALSE(*args::opt_i64(a, "nul"));
  EXPECT_EQ(**args::opt_i64(a, "i"), 42);
  expect_invalid(args::opt_i64(a, "d").err(), "d", "must be an integer");
}

TEST(Args, IntegersInStrings) {
  // Query strings and path segments arrive as strings.
  auto a = obj(R"({"a":"42","b":"-7","c":"0","d":"007","e":"123456789012345678"})");
  EXPECT_EQ(*args::i64(a, "a"), 42);
  EXPECT_EQ(*args::i64(a, "b"), -7);
  EXPECT_EQ(*args::i64(a, "c"), 0);
  EXPECT_EQ(*args::i64(a, "d"), 7);
  EXPECT_EQ(*args::i64(a, "e"), 123456789012345678);
  EXPECT_EQ(**args::opt_i64(a, "a"), 42);

  for (const char* bad : {"", "-", "+5", " 5", "5 ", "4a", "0x10", "1.5", "1e3", "--5", "5-",
                          "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    json::object o{{"n", bad}};
    expect_invalid(args::i64(o, "n").err(), "n", "must be an integer");
    EXPECT_FALSE(args::opt_i64(o, "n"));
  }
}

}  // namespace
}  // namespace parley
