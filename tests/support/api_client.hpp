#pragma once

// A keep-alive client of stewardd's public API for the system tests: one connection, requests
// written whole, the platform key / a session token / a provider signature added on demand. It is
// built on `raw_client`, so every call has a deadline and a hung server fails the test instead of
// stalling it.

#include "tests/support/raw_client.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace steward::test_support {

/// Reads a secret file (its whole content, trailing newline removed).
std::string read_secret(const std::filesystem::path& path);

/// The first `"name":"value"` string member of a JSON text, or empty (enough for ids in answers).
std::string json_string(std::string_view json, std::string_view name);

/// The first `"name":<integer>` member, or nullopt.
std::optional<std::int64_t> json_integer(std::string_view json, std::string_view name);

/// The Unix time now.
std::int64_t unix_now();

class api_client {
public:
  explicit api_client(std::uint16_t port) : port_(port) {}

  /// Sends a request with `headers` (each `Name: value\r\n`) and returns the response; reconnects
  /// when the previous connection was closed. nullopt on a timeout or a broken connection.
  std::optional<http_response> send(std::string_view method, std::string_view target,
                                    std::string_view headers = {}, std::string_view body = {});

  /// With `Authorization: Bearer <bearer>`, plus `Idempotency-Key` when `key` is not empty.
  std::optional<http_response> bearer(std::string_view bearer, std::string_view method,
                                      std::string_view target, std::string_view body = {},
                                      std::string_view key = {});

  /// Signed as provider `slug` with `secret` (DESIGN 4, "Auth"), at `t` (now when 0).
  std::optional<http_response> signed_request(std::string_view slug, std::string_view secret,
                                              std::string_view method, std::string_view target,
                                              std::string_view body, std::string_view key,
                                              std::int64_t t = 0);

private:
  std::uint16_t port_;
  std::optional<raw_client> connection_;
};

} // namespace steward::test_support
