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
// Domains: a registered name is taken for everyone; `claim_domain` takes it for one resource, once.
//
// Thread-safe (one mutex); bounded by `records_max` (503 beyond it).

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

  explicit resource_store(std::size_t records_max);

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

private:
  struct entry {
    core::idempotency_record record;
    std::string resource_id;
  };
  static std::string scope(std::string_view account_id, std::string_view key);

  mutable std::mutex mutex_;
  std::size_t records_max_;
  std::unordered_map<std::string, entry> by_scope_;
  /// Resource ids of attempts whose answers were not stored, so that a retry reuses the id (and
  /// the charge key) of the attempt that may have charged.
  std::unordered_map<std::string, std::string> retry_ids_;
  std::unordered_map<std::string, std::string> domain_owner_; ///< name -> resource id
};

} // namespace steward::refprovider
