// The fan-out bus: carries committed events, notices and control messages from the node
// that produced them to its own subscribers and to every other node that needs them. The
// in-process bus (bus/local_bus) serves a single node; the NATS bus (bus/nats_bus) a
// cluster. Every implementation passes tests/unit/bus_conformance_test.cpp.
//
// Contract:
// - publish() is called by the store's writer in commit order; a bus delivers the events
//   of one conversation to each subscriber in the order published. It must not block.
//   Subscribers on the publishing node get them synchronously, before publish() returns.
// - The bus is not the source of truth: a node that misses events (a reconnect, an
//   overflow) is told through on_lost() and recovers them from the store by seq.
//   Delivery is at most once.
// - Notices (receipts, typing, presence, read positions, follows: frames that are not in
//   the log) reach the notice subscribers of this node synchronously and of every other
//   node that may have one of `users` online.
// - Control messages reach the subscribers of their topic on every *other* node (the
//   publisher acts on its own node itself); a single node has nobody to tell.
// - Interest: in a cluster a node receives a conversation's events and notices only while
//   it wants() the conversation, and the events of conversations a user joins while it
//   wants the user (want_user). A single node receives everything and wants nothing.
// - Handlers run on a bus thread (the publisher's thread for local delivery) and must not
//   block. Subscribe before publishing; subscriptions last for the bus's life.
// - Safe to call from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace parley {

class bus {
 public:
  virtual ~bus() = default;
  using handler = std::function<void(const std::vector<committed_event_ptr>&)>;
  using notice_handler = std::function<void(const std::vector<user_id>& users,
                                            const std::shared_ptr<const std::string>& frame)>;
  using control_handler = std::function<void(std::string_view payload)>;

  virtual void publish(std::vector<committed_event_ptr> events) = 0;
  virtual void subscribe(handler h) = 0;

  // `conv` (0: none) routes the notice like that conversation's events.
  virtual void publish_notice(conv_id conv, std::vector<user_id> users,
                              std::shared_ptr<const std::string> frame) = 0;
  virtual void subscribe_notices(notice_handler h) = 0;

  // `topic`: letters, digits and '_' only.
  virtual void publish_control(std::string_view topic, std::string payload) = 0;
  virtual void subscribe_control(std::string topic, control_handler h) = 0;

  // True if other nodes exist (the NATS bus), so interest and on_lost matter.
  virtual bool clustered() const { return false; }
  // This node's name in the cluster ("" on a single node).
  virtual const std::string& node_id() const {
    static const std::string none;
    return none;
  }
  // Counted per conversation (each want needs one unwant). Returns true when every one of
  // `convs` is already received; otherwise `ready` runs once, on a bus thread, when they
  // all are: events committed elsewhere before then must be read from the store.
  virtual bool want(const std::vector<conv_id>& convs, std::function<void()> ready) {
    (void)convs;
    (void)ready;
    return true;
  }
  virtual void unwant(const std::vector<conv_id>& convs) { (void)convs; }
  virtual void want_user(user_id u) { (void)u; }
  virtual void unwant_user(user_id u) { (void)u; }
  // `h` runs (on a bus thread) whenever this node may have missed events or notices from
  // other nodes: everything live must then be re-read from the store.
  virtual void on_lost(std::function<void()> h) { (void)h; }
  // Leaves the cluster: once it returns no handler runs for messages from other nodes,
  // and publishing reaches this node's subscribers only.
  virtual void close() {}
};

}  // namespace parley
