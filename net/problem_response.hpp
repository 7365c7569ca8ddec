#pragma once

// RFC 9457 error responses as the HTTP layer sends them.

#include "core/api_error.hpp"
#include "core/problem.hpp"
#include "net/http_message.hpp"

#include <string>
#include <string_view>

namespace steward::net {

/// The response of a built problem, with `Retry-After` when the problem carries one.
inline http_response problem_response(core::problem&& problem) {
  http_response response;
  response.status = problem.status();
  response.content_type = core::problem_content_type;
  if (auto seconds = problem.retry_after_seconds())
    response.headers.emplace_back("Retry-After", std::to_string(*seconds));
  response.body = std::move(problem).body();
  return response;
}

inline http_response problem_response(core::api_error error, std::string_view detail) {
  core::problem problem(error, detail);
  http_response response;
  response.status = problem.status();
  response.content_type = core::problem_content_type;
  response.body = std::move(problem).body();
  return response;
}

/// The error a parser status (400, 413, 431, 501, 505) is reported as.
inline core::api_error problem_for_parse_status(std::uint16_t status) noexcept {
  return core::api_error_from_http_status(status);
}

} // namespace steward::net
