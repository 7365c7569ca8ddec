#pragma once

// The node actor: answers for the process as a whole. Today that is readiness (`GET /readyz`), which
// goes through the same HTTP-to-actor bridge every API call will use, so a probe proves that the
// scheduler, the bridge and the reply path all work — not merely that a socket accepts.

#include "actors/mailbox_counter.hpp"
#include "net/handler.hpp"
#include "net/responder.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::net::responder)

namespace caf {
class actor_system;
}

namespace steward::actors {

using readiness_atom = caf::atom_constant<caf::atom("readiness")>;

/// Typed so that a mismatched message fails at compile time.
using node_actor = caf::typed_actor<caf::reacts_to<readiness_atom, net::responder>>;

struct node_config {
  /// Set once the server starts draining; readiness then answers 503 so that load balancers move
  /// traffic away before the listener closes. Must outlive the actor.
  const std::atomic<bool>* draining = nullptr;
  /// Counts this actor's mailbox. Must outlive the actor.
  mailbox_counter* mailbox = nullptr;
};

/// The state of the node actor: plain functions that do the work (STYLE.md).
struct node_state {
  static inline const char* name = "steward.node";
  node_config config;

  void answer_readiness(net::responder reply) const;
};

node_actor spawn_node(caf::actor_system& system, node_config config);

/// The route handler that forwards a readiness probe to `node` with the request's responder.
net::handler readiness_handler(node_actor node, mailbox_counter& mailbox);

} // namespace steward::actors
