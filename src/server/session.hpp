// The protocol side of one client connection, independent of the transport: request
// dispatch, authentication, sync (replay then live, with no gap or duplicate at the
// switch) and live delivery. Runs only on its connection's executor; callbacks from the
// store and the hub are posted there. See docs/protocol.md ("Sync") and
// docs/architecture.md ("Resume") for the algorithm.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/context.hpp"
#include "server/frame_sink.hpp"

namespace parley {

class session : public std::enable_shared_from_this<session> {
 public:
  session(server_context& ctx, boost::asio::any_io_executor ex, std::shared_ptr<frame_sink> sink);

  const boost::asio::any_io_executor& executor() const { return ex_; }
  // Immutable once authenticated, so the hub may read them from any thread.
  user_id uid() const { return auth_ ? auth_->u.id : 0; }
  device_id device() const { return auth_ ? auth_->device : 0; }
  bool authenticated() const { return auth_.has_value(); }

  // Authentication done by the transport (Authorization header at the handshake).
  void set_auth(device_session d);
  // One request frame (JSON text) from the client.
  void on_frame(std::string_view text);
  // Tells the client its frame was too large (the frame itself was dropped).
  void reject_oversize(std::size_t bytes);
  // Live events from the hub.
  void on_events(const std::vector<committed_event_ptr>& events);
  // Closes the connection (logout, shutdown).
  void close(std::uint16_t code, const std::string& reason);
  // The transport is gone: release everything.
  void on_closed();

 private:
  enum class mode { idle, catching_up, live };
  struct round_result;

  void dispatch(std::string id_text, std::string op, boost::json::object args);
  void do_auth(std::string id_text, const boost::json::object& args);
  void do_sync(std::string id_text, const boost::json::object& args);
  void run_round();
  void finish_round(std::uint64_t gen, const std::shared_ptr<round_result>& r);
  void after_round(std::uint64_t gen, bool more);
  void send_frame(std::shared_ptr<const std::string> f);
  void reply(const std::string& id_text, const result<std::string>& r);

  server_context& ctx_;
  boost::asio::any_io_executor ex_;
  std::shared_ptr<frame_sink> sink_;  // null once closed
  std::optional<device_session> auth_;
  bool auth_pending_ = false;
  std::size_t inflight_ = 0;

  mode mode_ = mode::idle;
  bool dirty_ = false;  // live events arrived while catching up
  bool round_running_ = false;
  bool live_only_start_ = false;  // sync without `since`: start at the current positions
  std::uint64_t round_gen_ = 0;
  std::optional<std::string> sync_reply_id_;
  std::unordered_map<conv_id, seq_t> cursors_;  // last seq delivered per conversation
};

}  // namespace parley
