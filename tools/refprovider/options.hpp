#pragma once

// The command line of steward-refprovider (DESIGN 8):
//
//     steward-refprovider --listen=HOST:PORT --steward-url=URL --secret-file=PATH [--slug=NAME]
//                         [--existing-accounts=EMAIL,EMAIL...] [--terms-version=V]
//                         [--oauth-client-id=ID] [--oauth-redirect-uri=URL] [--oauth-auto-consent]
//                         [--meter-interval-ms=MS] [--meter-units=N]
//                         [--fault=KIND[@EVERY]]... [--faults-from-header]
//
// Parsing is pure (no file is read): `load_secret` reads the secret file afterwards, so that both
// can be tested apart and every error names the option it is about.

#include "tools/refprovider/fault.hpp"
#include "tools/refprovider/limits.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::refprovider {

struct options {
  std::string host;           ///< `--listen` host: an IPv4 literal (`localhost` means 127.0.0.1)
  std::uint16_t port = 0;     ///< `--listen` port; 0 picks a free one
  std::string steward_url;    ///< `--steward-url`, without a trailing `/`: issuer and API base
  std::string secret_file;    ///< `--secret-file`
  std::string slug = "ref";   ///< `--slug`: the audience of attestations, `Steward-Provider`
  /// `--existing-accounts`, lower-cased: emails that already have an account (OAuth path).
  std::vector<std::string> existing_accounts;
  std::string terms_version = "2026-01"; ///< `--terms-version`
  /// `--oauth-client-id`: the one OAuth client this provider knows (steward).
  std::string oauth_client_id = "steward";
  /// `--oauth-redirect-uri`: the redirect URI registered for that client;
  /// `STEWARD-URL/oauth/callback` when not given. An absolute http(s) URL, `http://` only to loopback, no fragment.
  std::string oauth_redirect_uri;
  /// `--oauth-auto-consent` (no value): `GET /oauth/authorize` consents at once instead of showing
  /// the consent page. For tests and benchmarks only.
  bool oauth_auto_consent = false;
  /// `--meter-interval-ms`: how often a `compute:metered` resource is charged; 0 turns the meter
  /// off. At most `limits::meter_interval_ms_max`.
  std::uint32_t meter_interval_ms = limits::meter_interval_ms_default;
  /// `--meter-units`: units charged per tick, 1 to `limits::meter_units_max`.
  std::int64_t meter_units = limits::meter_units_default;
  /// `--fault=KIND[@EVERY]`, repeatable (fault.hpp), at most `limits::faults_max`.
  std::vector<fault> faults;
  /// `--faults-from-header` (no value): honour the `Refprovider-Fault` request header.
  bool faults_from_header = false;
};

/// A bad command line: the option it is about (`--listen`) and what is wrong with it.
struct option_error {
  std::string option;
  std::string message;
};

/// "--listen: expected HOST:PORT, got ..."
std::string to_string(const option_error& error);

/// Applies `args` (argv without the program name) to `out`. `--listen`, `--steward-url` and
/// `--secret-file` are required; an unknown, repeated or malformed option is an error.
std::optional<option_error> parse_options(std::span<const std::string_view> args, options& out);

/// Reads the provider secret from `path`: the whole file, one trailing newline removed; it must be
/// 1 to `limits::secret_bytes_max` bytes without control characters. Errors name `--secret-file`.
std::optional<option_error> load_secret(const std::string& path, std::string& out);

/// Whether `text` has the shape of an email address this provider accepts: one `@` with a
/// non-empty local part and domain, printable ASCII without spaces, at most
/// `limits::email_bytes_max` bytes.
bool is_plausible_email(std::string_view text) noexcept;

/// ASCII lower-case copy (emails are matched case-insensitively as a whole: a simplification of
/// RFC 5321, whose local part is case-sensitive, that every large provider makes in practice).
std::string lowercase(std::string_view text);

} // namespace steward::refprovider
