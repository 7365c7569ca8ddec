#include "tools/refprovider/meter.hpp"

#include "core/json_writer.hpp"
#include "tools/refprovider/catalog.hpp"

namespace steward::refprovider {

std::string tick_key(std::string_view resource_id, std::uint64_t tick) {
  return std::string(resource_id) + ".tick." + std::to_string(tick);
}

std::string tick_charge_body(std::string_view payment_token, std::string_view resource_id,
                             std::int64_t units, std::int64_t unit_price, std::string_view unit) {
  std::string body;
  core::json_writer w(body);
  w.begin_object()
    .member("payment_token", payment_token)
    .member("amount", units * unit_price)
    .member("currency", catalog_currency)
    .member("description", "compute:metered " + std::string(resource_id))
    .key("usage")
    .begin_object()
    .member("quantity", units)
    .member("unit", unit)
    .end_object()
    .end_object();
  return body;
}

namespace {

/// The `code` member of a problem body; empty when there is none.
std::string problem_code(std::string_view body) {
  constexpr std::string_view key = R"("code":")";
  auto at = body.find(key);
  if (at == std::string_view::npos)
    return {};
  at += key.size();
  auto end = body.find('"', at);
  if (end == std::string_view::npos || end - at > 64)
    return {};
  auto code = body.substr(at, end - at);
  for (char c : code)
    if (!((c >= 'a' && c <= 'z') || c == '_'))
      return {};
  return std::string(code);
}

} // namespace

tick_verdict judge_tick(const net::client_result& result) {
  auto const* response = std::get_if<net::client_response>(&result);
  if (response == nullptr)
    return {tick_outcome::retry, {}};
  auto const status = response->status;
  // 200 is a replay of a tick steward already took (its idempotency); 201 a new charge.
  if (status == 200 || status == 201)
    return {tick_outcome::charged, {}};
  // In flight at steward, rate limited, or steward failing: the tick's fate is open.
  if (status == 409 || status == 429 || status >= 500)
    return {tick_outcome::retry, {}};
  auto code = problem_code(response->body);
  if (code.empty())
    code = "http_" + std::to_string(status);
  return {tick_outcome::stopped, std::move(code)};
}

} // namespace steward::refprovider
