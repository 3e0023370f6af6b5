// The cluster bus over NATS (libnats; nats-server). Subjects:
//
//   parley.c.<conv>   the conversation's committed events ('E' messages) and notices
//                     ('N'); a node subscribes while one of its sessions wants the
//                     conversation, so it receives only what it has recipients for, once
//                     per event however many of them it holds
//   parley.u.<user>   events of a conversation the user just joined (conversation.created,
//                     member.joined), which the user's node does not subscribe to yet
//   parley.n          notices without a conversation (presence, read positions, follows)
//   parley.x.<topic>  control messages (logout, token refresh, presence between nodes,
//                     resync requests)
//
// Payloads are bus_codec's. The connection is made with no echo (a node never receives
// its own messages: its subscribers got them synchronously from publish), reconnects for
// ever with jitter, and buffers up to 8 MiB of publishes while disconnected. Messages are
// delivered on one library thread, in the order the server sent them.
//
// Losses: a reconnect (messages sent meanwhile are gone), a slow consumer (the library
// dropped messages) or a publish that failed on another node (it asks every node to
// resync once it is connected again) run the on_lost handlers, at most every 500 ms, on
// the bus's worker thread.
//
// Interest is counted per subject; the worker thread subscribes and unsubscribes and,
// after a flush (the server has the subscriptions), runs the `ready` callbacks of want().
// Lock order: the bus's mutex is a leaf; no libnats call is made while holding it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "bus/bus.hpp"

namespace parley {

struct nats_options {
  std::string url;      // one or several (comma-separated) nats:// URLs
  std::string node_id;  // this node's name in the cluster
  std::chrono::milliseconds reconnect_wait{250};
};

class nats_bus final : public bus {
 public:
  // Connects in the background: the constructor returns at once, and until a server
  // answers publishes are buffered (up to 8 MiB; beyond that dropped and reported).
  explicit nats_bus(nats_options o);
  ~nats_bus() override;

  void publish(std::vector<committed_event_ptr> events) override;
  void subscribe(handler h) override;
  void publish_notice(conv_id conv, std::vector<user_id> users,
                      std::shared_ptr<const std::string> frame) override;
  void subscribe_notices(notice_handler h) override;
  void publish_control(std::string_view topic, std::string payload) override;
  void subscribe_control(std::string topic, control_handler h) override;

  bool clustered() const override { return true; }
  const std::string& node_id() const override;
  bool want(const std::vector<conv_id>& convs, std::function<void()> ready) override;
  void unwant(const std::vector<conv_id>& convs) override;
  void want_user(user_id u) override;
  void unwant_user(user_id u) override;
  void on_lost(std::function<void()> h) override;
  void close() override;

  // Whether a server connection is up now (for /healthz and tests).
  bool connected() const;
  // Waits until the subscriptions made and dropped so far (every want() and unwant()
  // before the call) are known to the server (tests).
  bool flush(std::chrono::milliseconds timeout);

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

}  // namespace parley
