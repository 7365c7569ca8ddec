#include "tools/refprovider/resource_store.hpp"

namespace steward::refprovider {

std::string_view to_string(resource_status status) noexcept {
  switch (status) {
  case resource_status::ready:
    return "ready";
  case resource_status::suspended:
    return "suspended";
  case resource_status::removed:
    return "removed";
  }
  return "unknown";
}

resource_store::resource_store(std::size_t records_max, std::size_t resources_max)
    : records_max_(records_max), resources_max_(resources_max) {}

std::string resource_store::scope(std::string_view account_id, std::string_view key) {
  return scope_of(account_id, "POST", "/resources", key);
}

std::string resource_store::scope_of(std::string_view account_id, std::string_view method,
                                     std::string_view path, std::string_view key) {
  return core::idempotency_scope(account_id, method, path, key);
}

resource_store::begun resource_store::begin(std::string_view account_id, std::string_view key,
                                            const core::idempotency_fingerprint& fingerprint,
                                            std::string new_id) {
  return begin_scope(scope(account_id, key), fingerprint, std::move(new_id));
}

void resource_store::finish(std::string_view account_id, std::string_view key,
                            std::uint16_t status, std::string body) {
  finish_scope(scope(account_id, key), status, std::move(body));
}

resource_store::begun resource_store::begin_scope(const std::string& name,
                                                  const core::idempotency_fingerprint& fingerprint,
                                                  std::string new_id) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = by_scope_.find(name);
  auto decision = core::decide(found == by_scope_.end() ? nullptr : &found->second.record,
                               fingerprint);
  begun out;
  switch (decision.action) {
  case core::idempotency_action::replay:
    out.what = start::replay;
    out.status = decision.status;
    out.body = std::string(decision.body);
    return out;
  case core::idempotency_action::conflict:
    out.what = start::conflict;
    return out;
  case core::idempotency_action::in_flight:
    out.what = start::in_flight;
    return out;
  case core::idempotency_action::execute:
    break;
  }
  if (by_scope_.size() + retry_ids_.size() >= records_max_) {
    out.what = start::full;
    return out;
  }
  if (auto retry = retry_ids_.find(name); retry != retry_ids_.end())
    new_id = retry->second;
  entry fresh;
  fresh.record.fingerprint = fingerprint;
  fresh.record.state = core::idempotency_state::in_flight;
  fresh.resource_id = new_id;
  by_scope_.emplace(name, std::move(fresh));
  out.what = start::execute;
  out.resource_id = std::move(new_id);
  return out;
}

void resource_store::finish_scope(const std::string& name, std::uint16_t status,
                                  std::string body) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = by_scope_.find(name);
  if (found == by_scope_.end())
    return;
  if (core::is_stored_response(status)) {
    found->second.record.state = core::idempotency_state::done;
    found->second.record.status = status;
    found->second.record.body = std::move(body);
    retry_ids_.erase(name);
  } else {
    retry_ids_[name] = found->second.resource_id;
    by_scope_.erase(found);
  }
}

bool resource_store::claim_domain(std::string_view name, std::string_view resource_id) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto [at, added] = domain_owner_.emplace(name, resource_id);
  return added || at->second == resource_id;
}

void resource_store::release_domain(std::string_view name, std::string_view resource_id) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = domain_owner_.find(std::string(name));
  if (found != domain_owner_.end() && found->second == resource_id)
    domain_owner_.erase(found);
}

bool resource_store::domain_claimed(std::string_view name) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return domain_owner_.count(std::string(name)) != 0;
}

std::size_t resource_store::records() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return by_scope_.size();
}

void resource_store::add(resource created) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto id = created.id;
  resources_.insert_or_assign(std::move(id), std::move(created));
}

bool resource_store::full() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return resources_.size() >= resources_max_;
}

std::optional<resource> resource_store::find(std::string_view account_id,
                                             std::string_view id) const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end() || found->second.account_id != account_id)
    return std::nullopt;
  return found->second;
}

std::optional<resource> resource_store::get(std::string_view id) const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end())
    return std::nullopt;
  return found->second;
}

resource_store::changed resource_store::rotate(std::string_view account_id, std::string_view id,
                                               std::string api_key) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end() || found->second.account_id != account_id)
    return {};
  if (found->second.status == resource_status::removed)
    return {change::removed, found->second};
  found->second.api_key = std::move(api_key);
  return {change::done, found->second};
}

resource_store::changed resource_store::remove(std::string_view account_id, std::string_view id) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end() || found->second.account_id != account_id)
    return {};
  auto& kept = found->second;
  kept.status = resource_status::removed;
  kept.reason.clear();
  // The credential dies with the resource; the tombstone keeps no secret.
  kept.api_key.clear();
  // A domain is not given back: registrations are non-refundable and the name stays registered
  // until it expires (catalog.hpp), as at a real registrar.
  return {change::done, kept};
}

bool resource_store::record_tick(std::string_view id, std::uint64_t tick, std::int64_t amount) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end())
    return false;
  auto& kept = found->second;
  // Counted whatever the status: steward took the money even if the resource was removed while
  // the tick was on its way, and the total must agree with steward's.
  if (tick == kept.ticks + 1) {
    kept.ticks = tick;
    kept.charged_total += amount;
  }
  return kept.status == resource_status::ready;
}

void resource_store::suspend(std::string_view id, std::string reason) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = resources_.find(std::string(id));
  if (found == resources_.end() || found->second.status != resource_status::ready)
    return;
  found->second.status = resource_status::suspended;
  found->second.reason = std::move(reason);
}

std::size_t resource_store::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return resources_.size();
}

} // namespace steward::refprovider
