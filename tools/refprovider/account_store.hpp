#pragma once

// The provider's accounts, keyed by the attested email (DESIGN 5: the provider decides "created" or
// "oauth_required" by the email, as Cloudflare does).
//
//  - An email listed as already having an account (`--existing-accounts`) is never created here:
//    the human must link it through OAuth, so `open` answers `oauth_required`.
//    Once linked (`link`), the account has an id and a token like any other.
//  - Any other email gets an account on first sight, and the same account (same id, same token)
//    every time it is attested again, so that steward retrying a lost answer, or a second agent
//    session of the same human, never creates a duplicate.
//
// Thread-safe: handlers on the io thread and JWKS completions on the HTTP client's thread both
// open accounts. Bounded by `capacity`; when full, new emails are refused (`full`, answered 503).

#include "core/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace steward::refprovider {

inline constexpr std::string_view account_id_prefix = "acct_";
inline constexpr std::string_view account_token_prefix = "rpt_";
/// Random bytes behind an account id (128 bits) and an account token (256 bits).
inline constexpr std::size_t account_id_random_bytes = 16;
inline constexpr std::size_t account_token_random_bytes = 32;

struct account {
  std::string id;
  std::string email; ///< lower-cased
  std::string token; ///< the bearer credential given to steward
};

class account_store {
public:
  enum class outcome : std::uint8_t {
    created,        ///< a new account
    existing,       ///< the account this email was given before
    oauth_required, ///< the email has an account steward did not create: link it through OAuth
    full,           ///< no room for a new account
    no_randomness,  ///< the random source failed; nothing was created
  };

  struct result {
    outcome what = outcome::full;
    account opened; ///< for `created` and `existing`
  };

  /// `existing_emails` are lower-case. `random` must outlive the store.
  account_store(const std::vector<std::string>& existing_emails, std::size_t capacity,
                core::random_source& random);

  /// The account of `email` (compared lower-cased), creating it if needed (see the file comment).
  result open(std::string_view email);

  /// The account of an email listed as existing, for OAuth to hand its token to the client that
  /// linked it. Its id and token are made on the first link and kept. Empty when `email` is not
  /// listed or the random source failed.
  std::optional<account> link(std::string_view email);

  /// The id of the account an email listed as existing has here, made on first request and kept
  /// (the account it links to later has this id); empty when `email` is not listed or the random
  /// source failed. Links nothing: `size()` does not count it.
  std::optional<std::string> existing_id(std::string_view email);
  /// Whether `email` (compared lower-cased) is listed as having an account here.
  bool is_existing(std::string_view email) const;

  /// The account whose token is `token`, compared through its hash; empty when there is none.
  std::optional<account> find_by_token(std::string_view token) const;

  std::size_t size() const;

private:
  mutable std::mutex mutex_;
  std::unordered_set<std::string> existing_;
  std::unordered_map<std::string, std::string> existing_ids_; ///< email -> id, before a link
  /// The id kept for an existing email, made now if needed; the caller holds `mutex_`.
  std::optional<std::string> id_of_existing(const std::string& email);
  std::unordered_map<std::string, account> by_email_;
  std::unordered_map<std::string, std::string> email_by_token_hash_;
  std::size_t capacity_;
  core::random_source& random_;
};

} // namespace steward::refprovider
