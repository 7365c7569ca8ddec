#pragma once

// The public API's routes (DESIGN 4.1-4.4, docs/api.md): what runs on the io thread before a
// request reaches a user actor. The spend routes are in api_spend.cpp, the catalog's and
// provisioning's in api_provisioning.cpp, what they share in api_internal.hpp and api.cpp. Each handler authenticates (platform key, provider signature or
// session token), checks the path's ids, validates `Idempotency-Key`, decodes the body into a
// typed command, resolves the user through the alias index, and sends the command to the
// directory with the request's responder. It never blocks: the only reads it makes are of
// in-memory maps and atomics; journal reads (audit) run on the loader pool.
//
// Principals (DESIGN 4, "Auth"): the platform key reaches every user; a provider reaches its own
// payment tokens and charges (a token of another provider is `not_found`); a session reaches its
// own user. Ids of objects that do not exist or belong to someone else are all 404 `not_found`.

#include "actors/alias_index.hpp"
#include "actors/directory.hpp"
#include "actors/kill_switch.hpp"
#include "actors/loader_pool.hpp"
#include "actors/provider.hpp"
#include "core/ids.hpp"
#include "net/handler.hpp"
#include "storage/journal.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace steward::actors {

struct api_context {
  const directory* users = nullptr;
  alias_index* aliases = nullptr;
  kill_switch* kills = nullptr;
  storage::journal* journal = nullptr;
  loader_pool* loader = nullptr;
  std::string platform_key;
  /// The operator's token (`DIR/admin.token`), for the admin listener's routes.
  std::string admin_token;
  std::unordered_map<std::string, std::string> provider_secrets; ///< slug -> HMAC secret
  std::function<std::int64_t()> clock; ///< unix seconds; the system clock when empty
  core::random_source* random = nullptr;
  /// The providers' catalogs (`GET /v1/catalog`); without it those routes are not served.
  const catalog_board* catalog = nullptr;
};

/// Adds the routes to `routes` (the catalog and provisioning ones only with `context.catalog`).
/// `context` and everything it points to must outlive the server that serves them.
void add_api_routes(net::route_table& routes, const api_context& context);

/// Adds the admin listener's API routes: `POST` and `DELETE /v1/kill` with the admin token, the
/// operator's kill switch. It works when the public listener is saturated or full, and its kills
/// do not queue behind the public listener's requests (docs/api.md). The same lifetime rule.
void add_admin_api_routes(net::route_table& routes, const api_context& context);

} // namespace steward::actors
