#pragma once

// Provider actors (DESIGN 2): one per configured provider. Today each owns its provider's catalog:
// it fetches `GET {base}/catalog` through the outbound client at start, revalidates it with
// `If-None-Match` every refresh interval, and publishes every usable version to the catalog board,
// from which `GET /v1/catalog` answers on the io thread without an actor hop.
//
// - A fetch that fails (transport, 5xx, a document that is not protocol v1) keeps the previous
//   catalog in use and is retried after `limits::catalog_retry_ms_min`, doubling up to
//   `catalog_retry_ms_max`; a success returns to the refresh interval. A provider that has never
//   answered has no catalog: its services are simply absent from the aggregated list.
// - 304 Not Modified keeps the published catalog and only counts a revalidation.
// - Services the catalog cannot offer (core/catalog.hpp) are hidden, counted in a gauge and
//   reported once per new catalog version through `provider_config::log`.
// - One fetch at a time: a refresh that finds one in flight does nothing.
//
// The client's callback runs on the client's thread; it only sends the result to the actor.

#include "core/catalog.hpp"
#include "core/limits.hpp"
#include "net/http_client.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace caf {
class actor_system;
}

namespace steward::actors {

/// The latest catalog of every provider, readable from any thread.
class catalog_board {
public:
  /// Every provider's latest catalog, ordered by slug; an entry is null until its first fetch.
  struct view {
    std::vector<std::string> slugs;
    std::vector<std::shared_ptr<const core::provider_catalog>> catalogs;

    /// The provider's catalog, or null (unknown provider, or none fetched yet).
    const core::provider_catalog* find(std::string_view slug) const noexcept;
    /// Whether `slug` is a configured provider, fetched or not.
    bool configured(std::string_view slug) const noexcept;
  };

  explicit catalog_board(std::vector<std::string> slugs);

  /// Replaces the catalog of `catalog->provider` (a configured slug; others are ignored).
  void publish(std::shared_ptr<const core::provider_catalog> catalog);

  /// The current view. Cheap: one lock and a shared_ptr copy; views are immutable.
  std::shared_ptr<const view> current() const;

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const view> view_;
};

/// Counters of one provider actor (relaxed atomics, read by metrics callbacks).
struct provider_counters {
  std::atomic<std::uint64_t> catalog_fetches{0};      ///< 200 answers that were published
  std::atomic<std::uint64_t> catalog_revalidations{0}; ///< 304 answers
  std::atomic<std::uint64_t> catalog_failures{0};     ///< failed fetches (any cause)
  std::atomic<std::int64_t> catalog_services{0};      ///< services offered now
  std::atomic<std::int64_t> catalog_hidden{0};        ///< services hidden from the current catalog
};

struct provider_config {
  std::string slug;
  std::string base_url; ///< no trailing slash
  net::http_client* client = nullptr; ///< must outlive the actor's pending fetches
  catalog_board* board = nullptr;     ///< must outlive the actor
  std::chrono::milliseconds refresh_interval{core::limits::catalog_refresh_ms_default};
  std::chrono::milliseconds retry_min{core::limits::catalog_retry_ms_min};
  std::chrono::milliseconds retry_max{core::limits::catalog_retry_ms_max};
  provider_counters* counters = nullptr; ///< optional; must outlive the actor
  /// One line of operator information (hidden services, failed fetches); stderr when empty.
  std::function<void(std::string_view)> log;
};

/// The client's answer to a catalog fetch, as a message.
struct catalog_fetched {
  net::client_result result;
};

} // namespace steward::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::catalog_fetched)

namespace steward::actors {

using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
using fetched_atom = caf::atom_constant<caf::atom("fetched")>;

/// `refresh` starts a catalog fetch (the actor's own timer sends it; tests may too); `fetched`
/// is the client's answer.
using provider_actor = caf::typed_actor<caf::reacts_to<refresh_atom>,
                                        caf::reacts_to<fetched_atom, catalog_fetched>>;

/// The provider actor's state; plain functions that do the work (STYLE.md).
struct provider_state {
  static inline const char* name = "steward.provider";

  provider_config config;
  std::string etag;           ///< of the published catalog; sent as If-None-Match
  bool fetch_in_flight = false;
  std::chrono::milliseconds retry_delay{0}; ///< the next retry's delay after a failure

  void start_fetch(provider_actor self);
  void on_fetched(provider_actor self, net::client_result result);
  void log(std::string_view line) const;
  /// Schedules the next refresh after a failure (with backoff) or a success.
  void schedule(provider_actor self, bool failed);
};

/// Spawns a provider actor; its first catalog fetch starts at once.
provider_actor spawn_provider(caf::actor_system& system, provider_config config);

} // namespace steward::actors
