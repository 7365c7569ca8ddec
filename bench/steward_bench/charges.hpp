#pragma once

// The `charges` scenario of steward-bench (DESIGN 7, "Durable charges"): durable approved
// `POST /v1/provider/charges` per second across many users, unique idempotency keys, many
// keep-alive connections.
//
// Setup (not measured): over `setup_connections` connections, for every user `bench-<i>`:
// upsert the user, raise its cap for the provider, mint one payment token; then one probe charge,
// so that a provider secret stewardd does not share fails the setup. Load: `connections`
// connections spread over `threads` event loops, each with one charge in flight, paced by `rate`
// or back to back; users are taken round-robin. Latency is measured from the moment a request was
// due (open loop) or sent (closed loop) to its complete answer, for every answer whatever its
// status. Answers and failures are counted by the time they happen: those during the warm-up are
// dropped, those after the end are not waited for (reported as `in_flight_at_end`).

#include "bench/steward_bench/scenario.hpp"

#include <cstdint>
#include <string>

namespace steward::bench {

/// `load_options` (url, data dir, users = 10 000, connections = 512, duration, warm-up, rate,
/// report, threads) and:
struct charges_options : load_options {
  std::int64_t amount = 1;          ///< minor units per charge
  std::string provider = "acme";
  /// When set, a kill probe runs during the measured window: every `kill_interval_s` it kills this
  /// provider (`POST /v1/kill`) and lifts the kill again, on a connection of its own, and reports
  /// how long each answer took (DESIGN 7: kill ack p99 under load). It must not be `provider`.
  std::string kill_provider;
  /// Instead of a provider, the probe kills and lifts a user of its own, `bench-kill-probe`
  /// (created before the window, never charged): the user scope's path (docs/spend-core.md).
  bool kill_user = false;
  /// When set, the probe's kills go to this listener (stewardd's admin one) with the admin token
  /// (`DIR/admin.token`) instead of to `url` with the platform key.
  std::string kill_url;
  double kill_interval_s = 0.1;

  bool kill_probe() const noexcept { return kill_user || !kill_provider.empty(); }
};

/// Runs the scenario; prints progress on stderr and the summary on stdout. Returns the process
/// exit code: 0 when the load ran, 1 when setup failed or nothing was answered (with a message).
int run_charges(const charges_options& options);

} // namespace steward::bench
