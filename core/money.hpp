#pragma once

// Money on every path of steward (DESIGN 3): an integer count of minor units plus a lowercase ISO
// 4217 currency. There is no floating point and no conversion between currencies anywhere; every
// sum is overflow-checked, and two amounts are only ever compared or added within one currency.
//
// On the wire money is always the object `{"amount":1299,"currency":"usd"}`. Writing goes through
// `write_money`; reading goes through `declare_money` inside a json_reader decoder (which can only
// read plain strings and integers), followed by `resolve_money` once `decode` has returned:
//
//     money_field budget_field;
//     json_error error = decode(body, [&](object_reader& o) {
//       o.required("run_budget", [&](object_reader& m) {
//         declare_money(m, budget_field, amount_sign::non_negative);
//       });
//     });
//     money budget;
//     if (!error) error = resolve_money(budget_field, "/run_budget", budget);

#include "core/json_reader.hpp"
#include "core/json_writer.hpp"

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

/// The currencies steward accepts. Adding one means adding a row to the table in money.cpp; the
/// enumerator order is not part of any contract (the wire carries the code string).
enum class currency : std::uint8_t {
  usd,
  eur,
  gbp,
  jpy,
  chf,
  cad,
  aud,
  nzd,
  sek,
  nok,
  dkk,
  pln,
  czk,
  sgd,
  hkd,
  inr,
  krw,
  mxn,
  brl,
};

/// Number of supported currencies; `currency` values are 0 to `currency_count - 1`.
inline constexpr std::size_t currency_count = static_cast<std::size_t>(currency::brl) + 1;

/// What ISO 4217 says about one currency.
struct currency_info {
  std::string_view code;            ///< lowercase, e.g. "usd"
  std::uint8_t minor_unit_digits;   ///< 2 for usd (cents), 0 for jpy
};

/// The code and exponent of `c`. The view is static.
const currency_info& info(currency c) noexcept;

/// The lowercase code of `c`, e.g. "usd".
std::string_view to_string(currency c) noexcept;

/// The currency named by `code`, which must be exactly lowercase ("USD" is not accepted: the API
/// spells currencies in lowercase, and accepting both would give one value two spellings).
/// Empty for anything not in the table; the API answers that with 400 unsupported_currency.
std::optional<currency> parse_currency(std::string_view code) noexcept;

/// An amount of money: `amount` minor units of `code`.
struct money {
  std::int64_t amount = 0;
  currency code = currency::usd;

  friend bool operator==(const money&, const money&) = default;
};

/// Why a money operation produced no value.
enum class money_error : std::uint8_t {
  none,
  currency_mismatch, ///< the operands are in different currencies
  overflow,          ///< the exact result does not fit in int64
};

/// The result of a checked money operation: `value` is meaningful only when `error == none`.
struct money_result {
  money value;
  money_error error = money_error::none;

  explicit operator bool() const noexcept { return error == money_error::none; }
};

/// `a + b`, or empty when the exact sum does not fit in int64.
std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept;
/// `a - b`, or empty when the exact difference does not fit in int64.
std::optional<std::int64_t> checked_subtract(std::int64_t a, std::int64_t b) noexcept;

/// `a + b` within one currency.
money_result add(money a, money b) noexcept;
/// `a - b` within one currency.
money_result subtract(money a, money b) noexcept;

/// How `a` compares to `b`; empty when they are in different currencies (there is no exchange
/// rate on a money path, so "is 5 eur more than 5 usd" has no answer).
std::optional<std::strong_ordering> compare(money a, money b) noexcept;

/// Writes `m` as one value, `{"amount":1299,"currency":"usd"}`, at the writer's current position
/// (after a key, in an array, or as the whole document).
void write_money(json_writer& writer, money m);

/// Money as the JSON reader sees it, before the currency string is checked.
struct money_field {
  std::int64_t amount = 0;
  std::string currency;
};

/// Longest currency string a decoder reads before giving up with invalid_field.
inline constexpr std::size_t currency_field_bytes_max = 16;

/// Which amounts a field accepts; every field is also bounded by `limits::money_amount_max`.
enum class amount_sign : std::uint8_t {
  any,          ///< -money_amount_max to money_amount_max (none of the API's fields, so far)
  non_negative, ///< 0 and up: budgets and caps
  positive,     ///< 1 and up: charges, holds, refunds
};

/// Declares `amount` and `currency` (both required) on the object `reader` reads. A decoder's
/// rule applies: call it unconditionally from the declaring callback.
void declare_money(object_reader& reader, money_field& out, amount_sign sign);

/// Turns a decoded field into money. An unknown currency is reported as `unsupported_currency`
/// with the pointer `<pointer>/currency`, so it can be answered with `problem(error)` like any other
/// decoding error.
json_error resolve_money(const money_field& field, std::string_view pointer, money& out);

} // namespace steward::core
