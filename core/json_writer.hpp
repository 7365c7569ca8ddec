#pragma once

// A JSON writer for responses: it appends to a caller-owned std::string (so a connection can reuse
// one buffer for every response it writes) and places commas and colons itself.
//
// What it writes is always valid JSON, whatever bytes it is given: strings are escaped and their
// UTF-8 validated on the way, with invalid sequences replaced by U+FFFD. That matters because
// strings in responses often come from elsewhere (a provider's error message, a user's label) and
// a response must never fail to parse because one of them was malformed.
//
// There is no floating point: money is an integer count of minor units (DESIGN 3), and every other
// number in the API is an integer too. Numbers that arrive as text (a provider's configuration)
// go through `raw`.
//
// Misuse (a value where a key is due, unbalanced ends, nesting past `limits::json_depth_max`) is a
// programmer error and aborts with STEWARD_ASSERT: such a bug would otherwise send broken JSON.

#include "core/limits.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace steward::core {

/// Appends `text` to `out` as a JSON string literal, quotes included. `"` and `\` are escaped;
/// control characters as `\b \f \n \r \t` or `\u00XX`; U+2028 and U+2029 as `\u2028` and `\u2029`
/// (JavaScript source that embeds JSON breaks on them raw); DEL and every other valid UTF-8
/// sequence are copied. Each maximal ill-formed subpart (Unicode 15, 3.9: a stray continuation byte,
/// a truncated sequence, an overlong form, a surrogate, anything above U+10FFFF) becomes one
/// `\ufffd`.
void append_json_string(std::string& out, std::string_view text);

/// Writes one JSON value (usually an object) by appending to a string it does not own.
///
///     std::string body;                       // reused across responses
///     json_writer w(body);
///     w.begin_object().member("id", id).member("amount", 1299).member("paid", true).end_object();
///
/// The string must outlive the writer. Bytes already in it are left alone; the writer only appends.
class json_writer {
public:
  /// Writes after whatever `out` already holds.
  explicit json_writer(std::string& out) noexcept : out_(out) {}

  json_writer(const json_writer&) = delete;
  json_writer& operator=(const json_writer&) = delete;

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();

  /// The name of the next member; only inside an object, and only when a name is due.
  json_writer& key(std::string_view name);

  json_writer& string(std::string_view text);
  json_writer& int64(std::int64_t number);
  json_writer& uint64(std::uint64_t number);
  json_writer& boolean(bool flag);
  json_writer& null();

  /// Appends `json` unchanged as one value. The caller vouches that it is exactly one valid JSON
  /// value (for instance an object this writer produced earlier, or a number token from a parser).
  json_writer& raw(std::string_view json);

  /// Overloads picking the writer for the argument's type. Kept apart from `boolean` on purpose:
  /// `value("text")` must write a string, never `true` through a pointer-to-bool conversion.
  json_writer& value(std::string_view text) { return string(text); }
  json_writer& value(std::nullptr_t) { return null(); }
  template <class Integer>
    requires std::integral<Integer> && (!std::same_as<Integer, char>)
  json_writer& value(Integer number) {
    if constexpr (std::same_as<Integer, bool>)
      return boolean(number);
    else if constexpr (std::is_signed_v<Integer>)
      return int64(number);
    else
      return uint64(number);
  }

  /// `key(name)` then `value(v)`.
  template <class Value>
  json_writer& member(std::string_view name, const Value& v) {
    key(name);
    return value(v);
  }

  /// One whole value has been written and every object and array is closed.
  bool complete() const noexcept { return depth_ == 0 && (levels_[0] & has_items) != 0; }

  /// Objects and arrays currently open.
  std::size_t depth() const noexcept { return depth_; }

private:
  // One byte of state per open level; level 0 is the top, which holds a single value.
  static constexpr std::uint8_t is_object = 1;  // else an array (or the top level)
  static constexpr std::uint8_t has_items = 2;  // a comma is due before the next item
  static constexpr std::uint8_t key_written = 4; // object: a value is due

  void before_value();
  void open(char bracket, std::uint8_t kind);
  void close(char bracket, std::uint8_t kind);

  std::string& out_;
  std::size_t depth_ = 0;
  std::array<std::uint8_t, limits::json_depth_max + 1> levels_{};
};

} // namespace steward::core
