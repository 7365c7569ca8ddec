#pragma once

// The webhooks a user's money and the kill switches queue in the journal's outbox (DESIGN 4.2:
// `budget.threshold`, `kill.activated`): their ids and their `data`. The sender
// (actors/webhook_sender.hpp) wraps each as `{"id","object":"event","type","created","data"}`.

#include "core/ledger.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace steward::actors {

/// A webhook event id derived from `seed` (the same seed always gives the same `evt_` id, so a
/// decision replayed from the journal cannot queue a second webhook under a new id).
std::string derived_event_id(std::string_view seed);

/// The `budget.threshold` webhook's data for `crossing` of `charge` against `ledger` (after the
/// charge was applied).
std::string threshold_payload(const std::string& user, const core::ledger_state& ledger,
                              const core::charge_created& charge,
                              const core::threshold_crossing& crossing);

/// The `kill.activated` webhook's data.
std::string kill_payload(std::string_view scope, std::string_view id, std::int64_t at);

} // namespace steward::actors
