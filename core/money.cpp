#include "core/money.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <array>

namespace steward::core {
namespace {

// Indexed by `currency`; ISO 4217 minor-unit exponents. The static_assert below keeps the table and
// the enum the same length, and a unit test checks every row against its enumerator.
constexpr std::array<currency_info, currency_count> currency_table{{
  {"usd", 2},
  {"eur", 2},
  {"gbp", 2},
  {"jpy", 0},
  {"chf", 2},
  {"cad", 2},
  {"aud", 2},
  {"nzd", 2},
  {"sek", 2},
  {"nok", 2},
  {"dkk", 2},
  {"pln", 2},
  {"czk", 2},
  {"sgd", 2},
  {"hkd", 2},
  {"inr", 2},
  {"krw", 0},
  {"mxn", 2},
  {"brl", 2},
}};

} // namespace

const currency_info& info(currency c) noexcept {
  auto index = static_cast<std::size_t>(c);
  STEWARD_ASSERT(index < currency_count);
  return currency_table[index];
}

std::string_view to_string(currency c) noexcept { return info(c).code; }

std::optional<currency> parse_currency(std::string_view code) noexcept {
  // A linear scan over 19 three-byte codes is faster than hashing, and the table stays readable.
  for (std::size_t i = 0; i < currency_count; ++i)
    if (currency_table[i].code == code) return static_cast<currency>(i);
  return std::nullopt;
}

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

std::optional<std::int64_t> checked_subtract(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t difference;
  if (__builtin_sub_overflow(a, b, &difference)) return std::nullopt;
  return difference;
}

money_result add(money a, money b) noexcept {
  if (a.code != b.code) return {{}, money_error::currency_mismatch};
  auto sum = checked_add(a.amount, b.amount);
  if (!sum) return {{}, money_error::overflow};
  return {{*sum, a.code}, money_error::none};
}

money_result subtract(money a, money b) noexcept {
  if (a.code != b.code) return {{}, money_error::currency_mismatch};
  auto difference = checked_subtract(a.amount, b.amount);
  if (!difference) return {{}, money_error::overflow};
  return {{*difference, a.code}, money_error::none};
}

std::optional<std::strong_ordering> compare(money a, money b) noexcept {
  if (a.code != b.code) return std::nullopt;
  return a.amount <=> b.amount;
}

void write_money(json_writer& writer, money m) {
  writer.begin_object()
    .member("amount", m.amount)
    .member("currency", to_string(m.code))
    .end_object();
}

void declare_money(object_reader& reader, money_field& out, amount_sign sign) {
  std::int64_t min = 0;
  switch (sign) {
  case amount_sign::any: min = -limits::money_amount_max; break;
  case amount_sign::non_negative: min = 0; break;
  case amount_sign::positive: min = 1; break;
  }
  reader.required("amount", out.amount, min, limits::money_amount_max);
  // Every ISO 4217 code is three bytes; a somewhat longer string is still reported by
  // resolve_money as unsupported_currency (the more useful answer), and only absurd lengths fail
  // here as invalid_field.
  reader.required("currency", out.currency, currency_field_bytes_max);
}

json_error resolve_money(const money_field& field, std::string_view pointer, money& out) {
  json_error error;
  auto code = parse_currency(field.currency);
  if (!code) {
    error.failed = true;
    error.code = api_error::unsupported_currency;
    error.pointer = std::string(pointer) + "/currency";
    error.detail = "unsupported currency; use a lowercase ISO 4217 code such as \"usd\"";
    return error;
  }
  out = {field.amount, *code};
  return error;
}

} // namespace steward::core
