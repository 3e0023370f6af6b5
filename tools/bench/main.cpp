// parley-bench: load generator for Parley and the benchmark peers (bench/README.md).
//   parley-bench [fanout] ...   W3 group fan-out / W4 durable sends (the default)
//   parley-bench idle ...       W1 memory and CPU of idle authenticated connections
//   parley-bench rtt ...        W2 one-to-one round trip at fixed rates (open loop)
//   parley-bench storm ...      W5 authenticated connections per second
//   parley-bench resume ...     W6 many clients reconnecting at once, each behind
//   parley-bench history ...    W7 history pages from hot and cold conversations
//   parley-bench transports ... W3 received over WebSocket, SSE or long polling
//   parley-bench search ...     W8 full-text search over many stored messages
#include <cstdio>
#include <cstring>
#include <string>

#include "workloads.hpp"

int main(int argc, char** argv) {
  std::string w = argc > 1 && argv[1][0] != '-' ? argv[1] : "fanout";
  if (w == "fanout") return bench::fanout_main(argc, argv);
  if (w == "idle") return bench::idle_main(argc, argv);
  if (w == "rtt") return bench::rtt_main(argc, argv);
  if (w == "storm") return bench::storm_main(argc, argv);
  if (w == "resume") return bench::resume_main(argc, argv);
  if (w == "history") return bench::history_main(argc, argv);
  if (w == "transports") return bench::transports_main(argc, argv);
  if (w == "search") return bench::search_main(argc, argv);
  std::fprintf(
      stderr,
      "parley-bench: unknown workload %s (fanout, idle, rtt, storm, resume, history, search, "
      "transports)\n",
      w.c_str());
  return 2;
}
