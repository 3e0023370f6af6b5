// A small chat program on the Parley C++ SDK: sends one message to a conversation, then
// prints what arrives for a few seconds. docs/sdk.md shows this file; the build compiles
// it (target example_chat), so the documentation cannot fall behind the SDK.
//
// Usage: PARLEY_TOKEN=pt_... example_chat HOST:PORT CONV TEXT [SECONDS]
// (the token comes from `parley-cli login`, or POST /v1/login; it is read from the
// environment so that it does not show in `ps`.)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "parley/sdk/client.hpp"

namespace sdk = parley::sdk;

// Message text is data, never terminal commands: show control characters as '?'.
static std::string printable(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

int main(int argc, char** argv) {
  const char* token = std::getenv("PARLEY_TOKEN");
  if (argc < 4 || !token) {
    std::fprintf(stderr, "usage: PARLEY_TOKEN=pt_... %s HOST:PORT CONV TEXT [SECONDS]\n", argv[0]);
    return 2;
  }
  std::string server = argv[1];
  auto colon = server.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "expected HOST:PORT, got %s\n", argv[1]);
    return 2;
  }
  long long conv = std::atoll(argv[2]);
  int seconds = argc > 4 ? std::atoi(argv[4]) : 5;

  sdk::client_options opt;
  opt.host = server.substr(0, colon);
  opt.port = static_cast<std::uint16_t>(std::atoi(server.c_str() + colon + 1));
  opt.token = token;
  opt.store_path = "chat-example.db";  // outbox and positions survive a restart
  opt.replay_from_join = false;        // the first run starts live; later runs resume

  // Handlers run on the client's I/O thread, one at a time; they must not block.
  sdk::client_handlers h;
  h.on_state = [](sdk::state s) { std::printf("[%s]\n", sdk::to_string(s)); };
  h.on_event = [](const sdk::event& e) {
    if (e.type == "message.created")
      std::printf("#%lld:%lld user %lld: %s\n", static_cast<long long>(e.conv),
                  static_cast<long long>(e.seq), static_cast<long long>(e.sender),
                  printable(e.text).c_str());
    else
      std::printf("#%lld:%lld %s\n", static_cast<long long>(e.conv), static_cast<long long>(e.seq),
                  e.type.c_str());
  };
  h.on_ack = [](const sdk::send_ack& a) {
    std::printf("sent %s as #%lld:%lld\n", a.client_msg_id.c_str(), static_cast<long long>(a.conv),
                static_cast<long long>(a.seq));
  };
  h.on_send_failed = [](const std::string& id, const parley::error& e) {
    std::printf("rejected %s: %s: %s\n", id.c_str(), std::string(parley::errc_name(e.code)).c_str(),
                e.message.c_str());
  };
  h.on_history_lost = [](std::int64_t conv, std::int64_t from, std::int64_t to) {
    std::printf("#%lld: events %lld..%lld were pruned\n", static_cast<long long>(conv),
                static_cast<long long>(from), static_cast<long long>(to));
  };
  h.on_auth_failed = [](const parley::error& e) {
    std::printf("token rejected: %s\n", e.message.c_str());
  };

  sdk::client c(opt, h);
  c.start();
  // Durable before send() returns: if this process dies now, the next run sends it.
  std::string id = c.send(conv, argv[3]);
  std::printf("queued %s\n", id.c_str());
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  c.stop();  // unacknowledged messages stay in chat-example.db
  std::printf("%zu message(s) still queued\n", c.outbox_size());
  return 0;
}
