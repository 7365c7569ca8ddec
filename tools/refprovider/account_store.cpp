#include "tools/refprovider/account_store.hpp"

#include "core/secret_token.hpp"
#include "tools/refprovider/options.hpp"
#include "tools/refprovider/random_text.hpp"

namespace steward::refprovider {

account_store::account_store(const std::vector<std::string>& existing_emails,
                             std::size_t capacity, core::random_source& random)
    : existing_(existing_emails.begin(), existing_emails.end()), capacity_(capacity),
      random_(random) {}

account_store::result account_store::open(std::string_view email_text) {
  auto email = lowercase(email_text);
  std::lock_guard<std::mutex> guard(mutex_);
  if (existing_.count(email))
    return {outcome::oauth_required, {}};
  if (auto found = by_email_.find(email); found != by_email_.end())
    return {outcome::existing, found->second};
  if (by_email_.size() >= capacity_)
    return {outcome::full, {}};
  auto id = random_text<account_id_random_bytes>(account_id_prefix, random_);
  auto token = random_text<account_token_random_bytes>(account_token_prefix, random_);
  if (!id || !token)
    return {outcome::no_randomness, {}};
  account created{std::move(*id), email, std::move(*token)};
  email_by_token_hash_.emplace(core::hash_token(created.token), email);
  by_email_.emplace(email, created);
  return {outcome::created, std::move(created)};
}

std::optional<account> account_store::link(std::string_view email_text) {
  auto email = lowercase(email_text);
  std::lock_guard<std::mutex> guard(mutex_);
  if (!existing_.count(email))
    return std::nullopt;
  if (auto found = by_email_.find(email); found != by_email_.end())
    return found->second;
  // Existing accounts are bounded by `limits::existing_accounts_max`, not by `capacity_`.
  auto id = id_of_existing(email);
  auto token = random_text<account_token_random_bytes>(account_token_prefix, random_);
  if (!id || !token)
    return std::nullopt;
  account linked{std::move(*id), email, std::move(*token)};
  email_by_token_hash_.emplace(core::hash_token(linked.token), email);
  by_email_.emplace(email, linked);
  return linked;
}

std::optional<std::string> account_store::id_of_existing(const std::string& email) {
  if (auto found = existing_ids_.find(email); found != existing_ids_.end())
    return found->second;
  auto id = random_text<account_id_random_bytes>(account_id_prefix, random_);
  if (id)
    existing_ids_.emplace(email, *id);
  return id;
}

std::optional<std::string> account_store::existing_id(std::string_view email_text) {
  auto email = lowercase(email_text);
  std::lock_guard<std::mutex> guard(mutex_);
  if (!existing_.count(email))
    return std::nullopt;
  if (auto found = by_email_.find(email); found != by_email_.end())
    return found->second.id;
  return id_of_existing(email);
}

bool account_store::is_existing(std::string_view email) const {
  auto lowered = lowercase(email);
  std::lock_guard<std::mutex> guard(mutex_);
  return existing_.count(lowered) != 0;
}

std::optional<account> account_store::find_by_token(std::string_view token) const {
  // Looked up by the hash of what is presented, so the lookup time says nothing about how close a
  // guess came to a real token.
  auto const hash = core::hash_token(token);
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = email_by_token_hash_.find(hash);
  if (found == email_by_token_hash_.end())
    return std::nullopt;
  return by_email_.at(found->second);
}

std::size_t account_store::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return by_email_.size();
}

} // namespace steward::refprovider
