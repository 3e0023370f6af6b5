// What a session needs from its transport: queue frames, learn when the queue drained,
// close. A transport only moves frames; the protocol lives in server/session.
//
// Contract: every call happens on the connection's executor. send() never blocks and
// never grows memory without bound: when the queued bytes exceed the configured limit
// the sink closes the connection itself with 4002 (slow consumer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace parley {

// Close codes Parley uses besides RFC 6455's (docs/protocol.md, "Close codes").
namespace close_code {
constexpr std::uint16_t going_away = 1001;     // server shutting down
constexpr std::uint16_t too_big = 1009;        // message above limits.max_frame_hard_bytes
constexpr std::uint16_t auth_timeout = 4001;   // not authenticated in time
constexpr std::uint16_t slow_consumer = 4002;  // outbound queue overflow; resume to recover
constexpr std::uint16_t logged_out = 4003;     // the device's token was revoked
constexpr std::uint16_t internal = 4004;       // the server could not serve this session
constexpr std::uint16_t rate_limited = 4005;   // kept sending after many rate_limited replies
constexpr std::uint16_t too_many = 4006;       // the user has too many connections open
}  // namespace close_code

class frame_sink {
 public:
  virtual ~frame_sink() = default;
  virtual void send(std::shared_ptr<const std::string> frame) = 0;
  // Calls f (on the executor) once the queue holds at most a low watermark of bytes.
  virtual void when_drained(std::function<void()> f) = 0;
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // After a sync that asked for it, the current state (receipts, typing, presence) has
  // been handed to send(): a transport that answers once (long polling) waits for it.
  virtual void state_sent() {}
  // The client's IP address, if the transport knows it ("" otherwise); asked rarely
  // (logins), so a transport may look it up each time.
  virtual std::string peer_address() const { return {}; }
};

}  // namespace parley
