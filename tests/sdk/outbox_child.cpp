// A client process for the SDK's crash tests: queues `count` messages into its outbox
// (a SQLite file), prints "queued", then reports every acknowledgement ("ack <cmid>") and
// exits 0 once the outbox is empty. Run again with count 0 to flush what a killed run
// left behind.
// Usage: parley_sdk_child PORT TOKEN STORE_PATH CONV COUNT
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "parley/sdk/client.hpp"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s PORT TOKEN STORE CONV COUNT\n", argv[0]);
    return 2;
  }
  parley::sdk::client_options o;
  o.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  o.token = argv[2];
  o.store_path = argv[3];
  o.backoff = {std::chrono::milliseconds(50), std::chrono::milliseconds(300),
               std::chrono::seconds(5)};
  o.send_window = 8;
  auto conv = std::atoll(argv[4]);
  int count = std::atoi(argv[5]);
  parley::sdk::client_handlers h;
  h.on_ack = [](const parley::sdk::send_ack& a) {
    std::printf("ack %s %lld\n", a.client_msg_id.c_str(), static_cast<long long>(a.seq));
    std::fflush(stdout);
  };
  parley::sdk::client c(o, h);
  for (int i = 0; i < count; ++i) c.send(conv, "child-" + std::to_string(i));
  std::printf("queued\n");
  std::fflush(stdout);
  c.start();
  for (int waited = 0; c.outbox_size() > 0; waited += 10) {
    if (waited > 60000) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  c.stop();
  return 0;
}
