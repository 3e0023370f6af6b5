// parley-bench's workloads; main.cpp picks one by its first argument.
#pragma once

namespace bench {

int fanout_main(int argc, char** argv);   // W3 group fan-out, W4 durable sends (fanout.cpp)
int idle_main(int argc, char** argv);     // W1 idle connections (idle.cpp)
int storm_main(int argc, char** argv);    // W5 connection storm (storm.cpp)
int resume_main(int argc, char** argv);   // W6 resume storm (resume.cpp)
int history_main(int argc, char** argv);  // W7 history reads (history.cpp)
int rtt_main(int argc, char** argv);      // W2 one-to-one round trip (rtt.cpp)
int search_main(int argc, char** argv);   // W8 full-text search (search.cpp)
int transports_main(int argc,
                    char** argv);  // W3 over WebSocket, SSE, long polling (transports.cpp)

}  // namespace bench
