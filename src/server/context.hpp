// The long-lived objects a connection needs, owned by parley::server.
#pragma once

#include <memory>

#include "core/service.hpp"
#include "server/config.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace parley {

class bus;
class hub;
class blob_store;
class typing_tracker;
class presence_tracker;
class connection_limits;

struct server_context {
  server_config cfg;
  store* st = nullptr;
  service* svc = nullptr;
  hub* h = nullptr;
  bus* b = nullptr;  // the fan-out bus: interest in a cluster
  metrics* m = nullptr;
  blob_store* blobs = nullptr;
  typing_tracker* typing = nullptr;
  presence_tracker* presence = nullptr;
  std::shared_ptr<connection_limits> conns;  // open connections per address and user
};

}  // namespace parley
