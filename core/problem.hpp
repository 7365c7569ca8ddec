#pragma once

// RFC 9457 problem details: the body of every error response (DESIGN 4).
//
//     {"type":"urn:steward:problem:budget_exceeded","title":"Budget exceeded","status":402,
//      "detail":"the session's run budget has 120 usd left","code":"budget_exceeded",
//      "scope":"session"}
//
// `type` is `urn:steward:problem:<code>`. RFC 9457 wants a URI that identifies the problem type;
// a URN is stable across deployments and needs no host (an http URL would name whichever host
// serves the docs, and break when it moves or when steward runs air-gapped), and it carries the
// same stable code clients switch on. Docs for every code are in docs/errors.md.
//
// `title` and `status` come from the code (core/api_error.hpp), so every occurrence of a code has
// the same ones; `detail` is about this occurrence. Extension members (`scope`, `expected`,
// `field`, `retry_after`, ...) follow `code`.

#include "core/api_error.hpp"
#include "core/json_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace steward::core {

/// Media type of a problem body.
inline constexpr std::string_view problem_content_type = "application/problem+json";

/// `type` is this followed by the code.
inline constexpr std::string_view problem_type_prefix = "urn:steward:problem:";

/// One problem+json body, built member by member. Strings are escaped (and invalid UTF-8 in them
/// replaced), so a detail may quote user input.
class problem {
public:
  problem(api_error code, std::string_view detail);

  /// A request body that failed to decode: its code, a detail prefixed with the pointer
  /// ("/ttl_seconds: must be ..."), and a `field` member holding the pointer. `error` must have
  /// failed; an empty one is survived as `internal`.
  explicit problem(const json_error& error);

  /// Adds an extension member. `key` must not be one of the five standard members, nor added twice.
  /// The rvalue overloads let a temporary be built and spent in one expression:
  /// `problem(code, detail).member("scope", "session").body()`.
  problem& member(std::string_view key, std::string_view value) &;
  problem& member(std::string_view key, std::int64_t value) &;
  problem&& member(std::string_view key, std::string_view value) && {
    return std::move(member(key, value));
  }
  problem&& member(std::string_view key, std::int64_t value) && {
    return std::move(member(key, value));
  }

  /// Adds a `retry_after` member (seconds) and remembers it for the response's `Retry-After`
  /// header (429 rate_limited, 409 idempotency_in_flight, 503 overloaded).
  problem& retry_after(std::uint32_t seconds) &;
  problem&& retry_after(std::uint32_t seconds) && { return std::move(retry_after(seconds)); }

  api_error code() const noexcept { return code_; }
  std::uint16_t status() const noexcept { return info(code_).status; }
  std::optional<std::uint32_t> retry_after_seconds() const noexcept { return retry_after_; }

  /// The finished body. The problem is spent afterwards.
  std::string body() &&;

private:
  void start(std::string_view detail);
  void append_key(std::string_view key);

  api_error code_;
  std::optional<std::uint32_t> retry_after_;
  std::string body_; // the object so far, without its closing brace
};

} // namespace steward::core
