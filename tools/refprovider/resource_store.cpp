#include "tools/refprovider/resource_store.hpp"

namespace steward::refprovider {

resource_store::resource_store(std::size_t records_max) : records_max_(records_max) {}

std::string resource_store::scope(std::string_view account_id, std::string_view key) {
  return core::idempotency_scope(account_id, "POST", "/resources", key);
}

resource_store::begun resource_store::begin(std::string_view account_id, std::string_view key,
                                            const core::idempotency_fingerprint& fingerprint,
                                            std::string new_id) {
  auto const name = scope(account_id, key);
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

void resource_store::finish(std::string_view account_id, std::string_view key,
                            std::uint16_t status, std::string body) {
  auto const name = scope(account_id, key);
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

} // namespace steward::refprovider
