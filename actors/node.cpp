#include "actors/node.hpp"

#include "core/json_writer.hpp"
#include "net/problem_response.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace steward::actors {

void node_state::answer_readiness(net::responder reply) const {
  if (config.draining != nullptr && config.draining->load(std::memory_order_relaxed)) {
    reply.respond(net::problem_response(core::api_error::overloaded,
                                        "the server is draining and takes no new work"));
    return;
  }
  net::http_response response;
  core::json_writer json(response.body);
  json.begin_object().member("status", std::string_view("ready")).end_object();
  reply.respond(std::move(response));
}

namespace {

node_actor::behavior_type node_behavior(node_actor::stateful_pointer<node_state> self,
                                        node_config config) {
  self->state.config = config;
  return {
    [self](readiness_atom, net::responder reply) {
      self->state.config.mailbox->handled();
      self->state.answer_readiness(reply);
    },
  };
}

} // namespace

node_actor spawn_node(caf::actor_system& system, node_config config) {
  return system.spawn(node_behavior, config);
}

net::handler readiness_handler(node_actor node, mailbox_counter& mailbox) {
  return [node = std::move(node), &mailbox](const net::http_request&, const net::route_params&,
                                            net::responder reply) {
    mailbox.sent();
    caf::anon_send(node, readiness_atom::value, reply);
  };
}

} // namespace steward::actors
