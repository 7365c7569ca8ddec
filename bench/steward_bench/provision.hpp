#pragma once

// The `provision` scenario of steward-bench: end-to-end provisions per second, an agent's whole
// purchase — catalog search → `POST /v1/resources` → (for a priced service) the provider's charge
// of the scoped payment token back through steward — against a real provider (the refprovider,
// tools/refprovider), many sessions, many keep-alive connections.
//
// Setup (not measured): the service's catalog entry is read (waiting for the provider actor to
// have fetched it), then over `setup_connections` connections, for every user `bench-<i>`: upsert
// the user, raise its monthly cap for the provider, accept the provider's current terms, set a
// payment method, open a session with a large run budget, and provision the service once (the
// warm-up purchase: the first purchase of a user creates its account at the provider — an
// attestation and `POST /accounts` —, later ones reuse it, so the measured phase is steady state).
//
// Load: `connections` connections spread over `threads` event loops, each with one operation in
// flight: every `catalog_every`-th operation first searches the catalog (`GET /v1/catalog?
// provider=…&q=…`), then provisions with a fresh `Idempotency-Key`. Users are taken round-robin
// within each thread's share of them; a user serves at most `per_user` operations (a user's ledger
// keeps at most 64 live resources, and a session is allowed 60 charges a minute), after which the
// thread stops sending and the summary says when and how many users a run of this length needs.
// The main latency is that of a whole operation, from its due (open loop) or start (closed loop)
// time to the provision's answer; the catalog reads have their own.

#include "bench/steward_bench/scenario.hpp"

#include <cstdint>
#include <string>

namespace steward::bench {

struct provision_options : load_options {
  provision_options() {
    users = 1000;
    connections = 64;
  }
  std::string provider = "ref";
  std::string service = "hosting:pro"; ///< a service of `provider`'s catalog, without `provider/`
  std::uint32_t catalog_every = 1;     ///< a catalog search before every N-th provision; 0 = none
  std::string query = "hosting";       ///< the search's `q`
  /// Operations per user in the load phase; 0 = the most the ledger allows after the warm-up
  /// purchase (59 for a priced service, 63 for a free one).
  std::uint32_t per_user = 0;
};

/// Runs the scenario; prints progress on stderr and the summary on stdout. Returns the process
/// exit code: 0 when the load ran, 1 when setup failed or nothing was answered (with a message).
int run_provision(const provision_options& options);

} // namespace steward::bench
