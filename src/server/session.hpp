// The protocol side of one client connection, independent of the transport: request
// dispatch, authentication, sync (replay then live, with no gap or duplicate at the
// switch) and live delivery. Runs only on its connection's executor; callbacks from the
// store and the hub are posted there. See docs/protocol.md ("Sync") and
// docs/architecture.md ("Resume") for the algorithm.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/connection_limits.hpp"
#include "server/context.hpp"
#include "server/frame_sink.hpp"

namespace parley {

class session : public std::enable_shared_from_this<session> {
 public:
  using executor_type = boost::asio::io_context::executor_type;
  session(server_context& ctx, executor_type ex, std::shared_ptr<frame_sink> sink);

  const executor_type& executor() const { return ex_; }
  // Immutable once authenticated, so the hub may read them from any thread.
  user_id uid() const { return auth_ ? auth_->u.id : 0; }
  device_id device() const { return auth_ ? auth_->device : 0; }
  // When the token expires (changed by a token refresh; on the session's thread only).
  std::int64_t expires_ms() const { return auth_ ? auth_->expires_ms : 0; }
  void set_expires(std::int64_t ms) {
    if (auth_) auth_->expires_ms = ms;
  }
  bool authenticated() const { return auth_.has_value(); }

  // Authentication done by the transport (Authorization header at the handshake).
  void set_auth(device_session d);
  // The connection's place in the per-address and per-user counts, held until it closes.
  void set_ticket(std::unique_ptr<connection_limits::ticket> t) { ticket_ = std::move(t); }
  // One request frame (JSON text) from the client.
  void on_frame(std::string_view text);
  // Tells the client its frame was too large (the frame itself was dropped).
  void reject_oversize(std::size_t bytes);
  // A live event from the hub, in commit order. Returns whether it was queued to the
  // client (false: not synced yet, a duplicate, or a gap that starts a catch-up round).
  bool on_event(const committed_event_ptr& ce);
  // Something may have been missed (the bus lost messages, or a conversation became
  // received only now): read everything after the cursors from the store again.
  void resync();
  // A notice for this user's devices (read positions, follows): sent as it is.
  void on_notice(std::shared_ptr<const std::string> frame) { send_frame(std::move(frame)); }
  // The positions delivered so far as a resume token: "conv.seq-conv.seq-..." (ascending
  // conversations; "all" while there are none, so nothing created later is skipped). What an SSE
  // event id or a long-poll cursor carries; parse_cursor_token turns it back into sync's `since`.
  std::string cursor_token() const;
  static bool parse_cursor_token(std::string_view token, boost::json::object& since);
  // Whether a completed sync is followed by the current receipts, typing and presence
  // (default true; a long poll asks for them only when its client says so).
  void send_state_after_sync(bool on) { send_state_ = on; }
  // Closes the connection (logout, shutdown).
  void close(std::uint16_t code, const std::string& reason);
  // The transport is gone: release everything.
  void on_closed();

 protected:
  // For a transport that derives from session, so that both are one allocation: it
  // attaches itself as the sink once a shared_ptr owns it. Until on_closed() the session
  // then keeps its transport (itself) alive, as a separate session would.
  session(server_context& ctx, executor_type ex) : ctx_(ctx), ex_(ex) {}
  void attach_sink(std::shared_ptr<frame_sink> sink) { sink_ = std::move(sink); }
  // Lets go of the sink without the on_closed() bookkeeping (the process is shutting down).
  void detach_sink() { sink_.reset(); }

 private:
  enum class mode { idle, catching_up, live };
  struct round_result;

  void dispatch(std::string id_text, std::string op, boost::json::object args);
  void do_auth(std::string id_text, const boost::json::object& args);
  void do_sync(std::string id_text, const boost::json::object& args);
  void run_round();
  void finish_round(std::uint32_t gen, const std::shared_ptr<round_result>& r);
  void after_round(std::uint32_t gen, bool more);
  void send_frame(std::shared_ptr<const std::string> f);
  // Receipts, typing and presence as they are now (after a sync completed).
  void send_current_state();
  void reply(const std::string& id_text, const result<std::string>& r);
  void note_refusal();
  std::int64_t take_connection_token();

  // Last seq delivered per conversation, sorted by conversation: 16 bytes an entry, no
  // nodes or buckets (an idle connection lives for hours with this).
  using cursor_map = std::vector<std::pair<conv_id, seq_t>>;

  server_context& ctx_;
  executor_type ex_;
  std::shared_ptr<frame_sink> sink_;  // null once closed
  std::optional<device_session> auth_;
  std::unique_ptr<std::string> sync_reply_id_;  // only while a sync awaits its reply
  cursor_map cursors_;
  std::uint32_t round_gen_ = 0;  // compared for equality only
  std::uint32_t inflight_ = 0;
  mode mode_ = mode::idle;
  bool auth_pending_ = false;
  bool dirty_ = false;  // live events arrived while catching up
  bool round_running_ = false;
  bool live_only_start_ = false;  // sync without `since`: start at the current positions
  bool send_state_ = true;
  std::int64_t activity_reported_ms_ = 0;  // steady clock, last presence activity report
  // Rate limits of this connection (rate.*): its token bucket (-1: full, untouched) and
  // the rate_limited replies of the current 10 s window.
  float conn_tokens_ = -1;
  std::uint32_t conn_last_ms_ = 0;
  std::uint32_t refused_since_ms_ = 0;
  std::uint32_t refused_ = 0;
  // A send refused for now: later sends wait for it (only while there is one).
  struct held_send {
    std::string cmid;
    std::uint32_t until_ms;
  };
  std::unique_ptr<held_send> held_send_;
  std::unique_ptr<connection_limits::ticket> ticket_;
  // In a cluster: the conversations this session has asked the bus for (sorted).
  std::unique_ptr<std::vector<conv_id>> wanted_;
  void want_conversations(const std::vector<conv_id>& visible);
};

}  // namespace parley
