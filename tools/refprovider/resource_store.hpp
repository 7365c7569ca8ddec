#pragma once

// The provider's resources and the idempotency records of `POST /resources` (DESIGN 4.4's rules,
// core/idempotency.hpp, applied on the provider's side: steward retries a provisioning call with the
// same `Idempotency-Key`, and the provider must create and charge at most once).
//
// A request goes through `begin`, which decides from the record of its scope (account, key):
// execute it (a record is made `in_flight` and the resource id is reserved, so that the charge sent
// to steward for it carries a key that is the same on every attempt), replay the stored answer,
// or refuse it (conflict, in flight). `finish` stores the answer (or drops the record for an
// answer that is not stored, so a retry executes afresh with the same resource id).
//
// The same records serve rotation and deletion, scoped by their own method and path
// (`scope_of`).
//
// Resources: once created, a resource is kept here with its owner, its current credential and
// its meter. Another account's resource is `nullopt` (the handlers answer 404, revealing nothing).
// A removed resource stays as a tombstone (`removed`): a repeated DELETE answers the same, a GET
// shows it, its meter stops, and it can no longer be rotated.
//
// Domains: a registered name is taken for everyone; `claim_domain` takes it for one resource, once.
//
// Thread-safe (one mutex); bounded by `records_max` and `resources_max` (503 beyond them, see
// `add`).

#include "core/idempotency.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace steward::refprovider {

inline constexpr std::string_view resource_id_prefix = "rsc_";

enum class resource_status : std::uint8_t {
  ready,     ///< in service
  suspended, ///< its meter was refused by steward; `reason` says why
  removed,   ///< deleted: a tombstone
};

std::string_view to_string(resource_status status) noexcept;

/// A resource as the provider keeps it.
struct resource {
  std::string id;
  std::string account_id;
  std::string service;
  std::string name;
  std::string domain;       ///< `registrar:domain` only
  std::string api_key;      ///< the current credential
  std::int64_t price = 0;   ///< charged up front
  std::string interval;     ///< of `price`; empty when nothing was charged up front
  std::string charge_id;    ///< steward's charge of `price`, if any
  resource_status status = resource_status::ready;
  std::string reason;       ///< `suspended`: steward's code
  bool metered = false;
  std::string payment_token; ///< what the meter charges
  std::int64_t charged_total = 0; ///< by the meter, in minor units
  std::uint64_t ticks = 0;        ///< ticks charged
};

class resource_store {
public:
  enum class start : std::uint8_t {
    execute,   ///< run it; `resource_id` names the resource it creates
    replay,    ///< answer `status`/`body` again with `Idempotent-Replayed: true`
    conflict,  ///< 422 idempotency_conflict
    in_flight, ///< 409 idempotency_in_flight, Retry-After
    full,      ///< 503: no room for another record
  };

  struct begun {
    start what = start::full;
    std::string resource_id; ///< execute
    std::uint16_t status = 0; ///< replay
    std::string body;         ///< replay
  };

  resource_store(std::size_t records_max, std::size_t resources_max);

  /// The scope of an idempotent request of `account_id` (core/idempotency.hpp).
  static std::string scope_of(std::string_view account_id, std::string_view method,
                              std::string_view path, std::string_view key);

  /// Like `begin` and `finish` below, for a request of any scope (rotation, deletion).
  begun begin_scope(const std::string& scope, const core::idempotency_fingerprint& fingerprint,
                    std::string new_id);
  void finish_scope(const std::string& scope, std::uint16_t status, std::string body);

  /// `new_id` is used when the scope has no record yet (or its last attempt was not stored).
  begun begin(std::string_view account_id, std::string_view key,
              const core::idempotency_fingerprint& fingerprint, std::string new_id);

  /// Ends the attempt begun for (account, key) with its answer.
  void finish(std::string_view account_id, std::string_view key, std::uint16_t status,
              std::string body);

  /// Takes `name` for resource `resource_id`; false when another resource has it. Claiming it
  /// again for the same resource (a retried attempt) succeeds.
  bool claim_domain(std::string_view name, std::string_view resource_id);
  /// Gives `name` back when the purchase of `resource_id` was declined.
  void release_domain(std::string_view name, std::string_view resource_id);
  /// Whether a resource holds `name`.
  bool domain_claimed(std::string_view name) const;

  std::size_t records() const;

  /// Keeps a created resource. Never refused: it was bought already. The caller checks `full()`
  /// before buying, so the store exceeds `resources_max` by at most the purchases in flight.
  void add(resource created);
  /// Whether `resources_max` resources are kept.
  bool full() const;
  /// A copy of resource `id` when `account_id` owns it.
  std::optional<resource> find(std::string_view account_id, std::string_view id) const;
  /// A copy of resource `id`, whoever owns it (the meter's view).
  std::optional<resource> get(std::string_view id) const;

  enum class change : std::uint8_t {
    done,      ///< applied; the copy shows the result
    removed,   ///< rotation of a removed resource: nothing changed
    not_found, ///< no such resource of this account
  };
  struct changed {
    change what = change::not_found;
    resource now; ///< `done` and `removed`
  };
  /// Replaces the credential of a resource that is not removed.
  changed rotate(std::string_view account_id, std::string_view id, std::string api_key);
  /// Marks the resource removed (again: the same answer). Its meter stops at its next tick.
  changed remove(std::string_view account_id, std::string_view id);

  /// The meter charged tick `tick` for `amount`: counted once (when it is the next tick), whatever
  /// the status. Whether the meter should go on (the resource is still `ready`).
  bool record_tick(std::string_view id, std::uint64_t tick, std::int64_t amount);
  /// steward refused the meter: `ready` becomes `suspended` with `reason`.
  void suspend(std::string_view id, std::string reason);

  std::size_t size() const;

private:
  struct entry {
    core::idempotency_record record;
    std::string resource_id;
  };
  static std::string scope(std::string_view account_id, std::string_view key);

  mutable std::mutex mutex_;
  std::size_t records_max_;
  std::size_t resources_max_;
  std::unordered_map<std::string, resource> resources_; ///< by id
  std::unordered_map<std::string, entry> by_scope_;
  /// Resource ids of attempts whose answers were not stored, so that a retry reuses the id (and
  /// the charge key) of the attempt that may have charged.
  std::unordered_map<std::string, std::string> retry_ids_;
  std::unordered_map<std::string, std::string> domain_owner_; ///< name -> resource id
};

} // namespace steward::refprovider
