// server.trusted_proxies: whose X-Forwarded-For is believed, and which entry of it.
#include <gtest/gtest.h>

#include "transport/client_address.hpp"

namespace parley {
namespace {

TEST(ClientAddress, OnlyATrustedPeersLastForwardedEntryCounts) {
  // Nobody trusted: the peer, whatever the header says.
  EXPECT_EQ(client_address("", "10.0.0.2", "203.0.113.9"), "10.0.0.2");
  // A trusted peer: the entry it appended (the last), not what the client claimed before it.
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.2", "203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(client_address("10.0.0.3, 10.0.0.2", "10.0.0.2", "1.2.3.4, 203.0.113.9"),
            "203.0.113.9");
  EXPECT_EQ(client_address("::1", "::1", " 2001:db8::7 "), "2001:db8::7");
  // An untrusted peer's header is ignored.
  EXPECT_EQ(client_address("10.0.0.2", "198.51.100.1", "203.0.113.9"), "198.51.100.1");
  // No header, or a last entry that is not an address: the peer.
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.2", ""), "10.0.0.2");
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.2", "203.0.113.9, unknown"), "10.0.0.2");
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.2", "203.0.113.9:443"), "10.0.0.2");
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.2", std::string(100, '1')), "10.0.0.2");
  // Entries are whole addresses, not prefixes.
  EXPECT_EQ(client_address("10.0.0.22", "10.0.0.2", "203.0.113.9"), "10.0.0.2");
}

TEST(ClientAddress, TheProxyListIsValidated) {
  EXPECT_TRUE(valid_proxy_list(""));
  EXPECT_TRUE(valid_proxy_list("127.0.0.1"));
  EXPECT_TRUE(valid_proxy_list("10.0.0.2, ::1,2001:db8::1"));
  EXPECT_FALSE(valid_proxy_list("10.0.0.0/8"));
  EXPECT_FALSE(valid_proxy_list("proxy.internal"));
  EXPECT_FALSE(valid_proxy_list("10.0.0.2,,10.0.0.3"));
}

}  // namespace
}  // namespace parley
