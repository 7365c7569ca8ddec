#pragma once

// Decodes a JSON request body into a typed struct, strictly (DESIGN 4: unknown fields are
// rejected so that typos never pass silently).
//
// A decoder is a callback that declares the members of one object, each with its destination and
// its bounds:
//
//     session_request out;
//     json_error error = decode(request.body, padding_readable, [&](object_reader& o) {
//       o.optional("ttl_seconds", out.ttl_seconds, 1, 86400);
//       o.optional("label", out.label, 200);
//       o.optional("intents", [&](object_reader& i) { i.optional("domains", out.domains, 64, 253); });
//     });
//     if (error) return problem(error);
//
// How it works, and the rules a decoder must follow:
//  - The body is read once, front to back (simdjson On-Demand). For each member the callback is
//    called and the one declaration whose key matches reads the value into its destination. A member
//    that no declaration claims is an `unknown_field`, wherever it appears in the object; a key
//    that appears twice is an `invalid_field` (RFC 8259 leaves duplicate names to the receiver; we
//    refuse them, because two parsers could otherwise pick different values).
//  - After the last member the callback is called once more, and every `required` declaration whose
//    key did not appear reports a missing member.
//  - So the callback runs several times per object: it must do nothing but declare, unconditionally,
//    and check cross-field rules after `decode` returns. Where a nested value needs a fresh
//    destination (an element of an array of objects, an optional sub-object), use the overloads
//    that take the container: they create it once and pass it to the callback.
//  - `optional` members keep their destination's prior value (the struct's default) when absent.
//    `null` is a type error unless the destination is a `nullable<T>`. Arrays replace the vector's
//    contents.
//  - Decoding stops at the first error, which carries a code, an RFC 6901 pointer and a detail. On
//    error the destination may be partly written: throw it away.
//  - Nothing throws; there are no exceptions on the request path.
//
// Errors (docs/errors.md):
//  - `invalid_json`: not JSON, not one object, something after it, nesting deeper than
//    `limits::json_depth_max` (the body's object counts as level 1), an invalid string escape
//    (including a lone surrogate) or invalid UTF-8 anywhere.
//  - `unknown_field`: a member that no declaration claims (pointer to it).
//  - `invalid_field`: wrong type, `null` where not nullable, an integer out of range or not an integer
//    (`1.0` and `1e3` are rejected), a string over its byte limit (never more than
//    `limits::json_string_bytes_max`), an array over its item limit, a missing required member, or
//    a duplicate key.
//  - `payload_too_large`: a body larger than `limits::body_bytes_max` (the HTTP layer normally
//    rejects it first).
//
// Parser reuse: each thread keeps one simdjson::ondemand::parser (thread_local) and reuses its
// buffers for every body it decodes; after a body larger than `json_parser_bytes_retained` the
// buffers are released again so one large request does not pin memory. Decoding is therefore not
// reentrant: a declaration callback must not call `decode` (asserted).

#include "core/api_error.hpp"
#include "core/limits.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace steward::core {

/// Whether `text` is exactly one number token of RFC 8259 section 6 (`-0`, `1.5e3`; not `01`, `1.`,
/// `+1`). simdjson reports some well-formed numbers that do not fit the requested type with the
/// same error as malformed ones; this tells them apart, so that `1e999` is a wrong value
/// (invalid_field) while `01` is not JSON (invalid_json). The canonicaliser checks tokens with it too.
bool is_json_number(std::string_view text) noexcept;

/// Readable bytes the simdjson parser may read past the end of a body (SIMDJSON_PADDING).
inline constexpr std::size_t json_padding_bytes = 64;

/// Members one decoder callback may declare for one object. A request object with more would be
/// a programmer error (asserted); it bounds the per-object bookkeeping of seen keys.
inline constexpr std::size_t json_object_members_max = 64;

/// A body whose parser buffers exceed this are released after decoding (see the file comment).
inline constexpr std::size_t json_parser_bytes_retained = 256u << 10;

/// Why a body was rejected. Empty (`!error`) when decoding succeeded.
struct json_error {
  api_error code = api_error::invalid_json; ///< meaningful only when `failed`
  std::string pointer; ///< RFC 6901 JSON Pointer to the offending member ("" is the whole body)
  std::string detail;  ///< short and human, e.g. "must be an integer from 1 to 86400"
  bool failed = false;

  /// True when decoding failed, as with std::error_code.
  explicit operator bool() const noexcept { return failed; }
};

/// A member that may be `null`: `present` says whether it was named at all (a PUT replaces only
/// what it names), `value` is empty when it was `null`.
template <class T>
struct nullable {
  bool present = false;
  std::optional<T> value;
};

/// Promise that `json_padding_bytes` readable bytes follow the body (the HTTP layer guarantees it
/// for request bodies; see net/http_parser.hpp).
struct padding_readable_t {
  explicit padding_readable_t() = default;
};
inline constexpr padding_readable_t padding_readable{};

/// Integer destinations: any integer type but bool and the character types.
template <class T>
concept json_integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                       !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> &&
                       !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;

/// Any JSON value, kept as compact JSON text; for members whose shape is checked elsewhere (a
/// service's `config`, checked against the provider's JSON Schema). The value is fully validated
/// (depth, string sizes, duplicate keys) and re-serialised without insignificant whitespace; numbers
/// are kept exactly as written.
struct raw_json {
  std::string text;
};

namespace detail {

struct decode_state;
struct object_frame;

/// A non-owning reference to a callable, valid for the duration of the call that receives it.
/// Lets the parsing code live in json_reader.cpp instead of in every decoder's translation unit.
template <class Signature>
class callback_ref;

template <class Result, class... Args>
class callback_ref<Result(Args...)> {
public:
  template <class Fn>
    requires(!std::same_as<std::remove_cvref_t<Fn>, callback_ref> &&
             std::invocable<Fn&, Args...>)
  callback_ref(Fn&& fn) noexcept // NOLINT: implicit on purpose, like std::function_ref
    : object_(const_cast<void*>(static_cast<const void*>(std::addressof(fn)))),
      call_([](void* object, Args... args) -> Result {
        return (*static_cast<std::remove_reference_t<Fn>*>(object))(std::forward<Args>(args)...);
      }) {}

  Result operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

private:
  void* object_;
  Result (*call_)(void*, Args...);
};

} // namespace detail

/// Declares the members of one JSON object. Only `decode` creates readers; see the file comment
/// for the rules. Every method is a no-op once an error has been recorded.
class object_reader {
public:
  object_reader(const object_reader&) = delete;
  object_reader& operator=(const object_reader&) = delete;

  // --- Strings: at most `bytes_max` bytes of UTF-8 after unescaping ----------------------------
  void required(std::string_view key, std::string& out,
                std::size_t bytes_max = limits::json_string_bytes_max);
  void optional(std::string_view key, std::string& out,
                std::size_t bytes_max = limits::json_string_bytes_max);
  void optional(std::string_view key, std::optional<std::string>& out,
                std::size_t bytes_max = limits::json_string_bytes_max);
  void optional(std::string_view key, nullable<std::string>& out,
                std::size_t bytes_max = limits::json_string_bytes_max);

  // --- Integers in [min, max]; `1.0`, `1e2` and strings are rejected ----------------------------
  template <json_integer T>
  void required(std::string_view key, T& out,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (claim(key, presence::required)) read_integer(out, min, max);
  }
  template <json_integer T>
  void optional(std::string_view key, T& out,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (claim(key, presence::optional)) read_integer(out, min, max);
  }
  template <json_integer T>
  void optional(std::string_view key, std::optional<T>& out,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (claim(key, presence::optional)) read_integer(out.emplace(), min, max);
  }
  template <json_integer T>
  void optional(std::string_view key, nullable<T>& out,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (!claim(key, presence::optional)) return;
    out.present = true;
    if (take_null())
      out.value.reset();
    else
      read_integer(out.value.emplace(), min, max);
  }

  // --- Booleans ----------------------------------------------------------------------------------
  void required(std::string_view key, bool& out);
  void optional(std::string_view key, bool& out);
  void optional(std::string_view key, std::optional<bool>& out);
  void optional(std::string_view key, nullable<bool>& out);

  // --- Arrays of strings and of integers: at most `items_max` items -----------------------------
  void required(std::string_view key, std::vector<std::string>& out, std::size_t items_max,
                std::size_t item_bytes_max = limits::json_string_bytes_max);
  void optional(std::string_view key, std::vector<std::string>& out, std::size_t items_max,
                std::size_t item_bytes_max = limits::json_string_bytes_max);
  template <json_integer T>
  void required(std::string_view key, std::vector<T>& out, std::size_t items_max,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (claim(key, presence::required)) read_integer_array(out, items_max, min, max);
  }
  template <json_integer T>
  void optional(std::string_view key, std::vector<T>& out, std::size_t items_max,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    if (claim(key, presence::optional)) read_integer_array(out, items_max, min, max);
  }

  // --- Nested objects ----------------------------------------------------------------------------
  /// A sub-object whose members `declare(object_reader&)` writes straight into existing storage.
  template <class Declare>
    requires std::invocable<Declare&, object_reader&>
  void required(std::string_view key, Declare&& declare) {
    if (claim(key, presence::required)) read_object(declare);
  }
  template <class Declare>
    requires std::invocable<Declare&, object_reader&>
  void optional(std::string_view key, Declare&& declare) {
    if (claim(key, presence::optional)) read_object(declare);
  }
  /// A sub-object that may be absent: `out` is emplaced once when it is present, then
  /// `declare(object_reader&, T&)` fills it.
  template <class T, class Declare>
    requires std::invocable<Declare&, object_reader&, T&>
  void optional(std::string_view key, std::optional<T>& out, Declare&& declare) {
    if (!claim(key, presence::optional)) return;
    T& target = out.emplace();
    read_object([&](object_reader& r) { declare(r, target); });
  }
  /// A sub-object that may be absent or `null`.
  template <class T, class Declare>
    requires std::invocable<Declare&, object_reader&, T&>
  void optional(std::string_view key, nullable<T>& out, Declare&& declare) {
    if (!claim(key, presence::optional)) return;
    out.present = true;
    if (take_null()) {
      out.value.reset();
      return;
    }
    T& target = out.value.emplace();
    read_object([&](object_reader& r) { declare(r, target); });
  }

  // --- Arrays of objects: each element is appended, then `declare(object_reader&, T&)` fills it -
  template <class T, class Declare>
    requires std::invocable<Declare&, object_reader&, T&>
  void required(std::string_view key, std::vector<T>& out, std::size_t items_max,
                Declare&& declare) {
    if (claim(key, presence::required)) read_object_array(out, items_max, declare);
  }
  template <class T, class Declare>
    requires std::invocable<Declare&, object_reader&, T&>
  void optional(std::string_view key, std::vector<T>& out, std::size_t items_max,
                Declare&& declare) {
    if (claim(key, presence::optional)) read_object_array(out, items_max, declare);
  }

  // --- Any JSON value, validated and kept as compact text ---------------------------------------
  void required(std::string_view key, raw_json& out);
  void optional(std::string_view key, raw_json& out);

private:
  friend struct detail::decode_state;

  enum class presence : std::uint8_t { required, optional };

  /// Where the member loop is; set by decode_state::read_members.
  enum class stage : std::uint8_t {
    unclaimed, ///< member pass, no declaration has taken `key_` yet
    claimed,   ///< member pass, a declaration took `key_` (or an error stopped the pass)
    final_pass ///< after the last member: checking that required members were present
  };

  object_reader(detail::decode_state& state, detail::object_frame& frame) noexcept
    : state_(&state), frame_(&frame) {}

  /// In the member pass: true when `key` is the current member (then read its value now). In the
  /// final pass: records a missing required member. Inline because it runs for every declaration
  /// of every member, and almost always answers "not this one" after comparing a length.
  bool claim(std::string_view key, presence how) {
    if (stage_ == stage::unclaimed) {
      if (key != key_) return false;
      stage_ = stage::claimed;
      return true;
    }
    if (stage_ == stage::final_pass && how == presence::required) require_seen(key);
    return false;
  }

  /// Final pass: records an error unless `key` was among the members (or an error came first).
  void require_seen(std::string_view key);

  // Readers of the current value; each records an error instead of returning a value when the
  // value does not fit. They return false on error.
  bool take_null();
  bool read_string(std::string& out, std::size_t bytes_max);
  bool read_bool(bool& out);
  bool read_int64(std::int64_t& out, std::int64_t min, std::int64_t max);
  bool read_uint64(std::uint64_t& out, std::uint64_t min, std::uint64_t max);
  void read_object(detail::callback_ref<void(object_reader&)> declare);
  /// Calls `item()` once per element, with the element as the current value; checks `items_max`
  /// before each call so the destination never grows past it.
  void read_array(std::size_t items_max, detail::callback_ref<void()> item);
  void read_raw_json(raw_json& out);

  template <json_integer T>
  void read_integer(T& out, T min, T max) {
    if constexpr (std::is_signed_v<T>) {
      std::int64_t number;
      if (read_int64(number, min, max)) out = static_cast<T>(number);
    } else {
      std::uint64_t number;
      if (read_uint64(number, min, max)) out = static_cast<T>(number);
    }
  }

  template <json_integer T>
  void read_integer_array(std::vector<T>& out, std::size_t items_max, T min, T max) {
    out.clear();
    read_array(items_max, [&] {
      T number{};
      read_integer(number, min, max);
      out.push_back(number);
    });
  }

  template <class T, class Declare>
  void read_object_array(std::vector<T>& out, std::size_t items_max, Declare& declare) {
    out.clear();
    read_array(items_max, [&] {
      T& element = out.emplace_back();
      read_object([&](object_reader& r) { declare(r, element); });
    });
  }

  detail::decode_state* state_;
  detail::object_frame* frame_;
  std::string_view key_; // the current member's name, in the member pass
  stage stage_ = stage::unclaimed;
};

namespace detail {
json_error decode_padded(std::string_view body, callback_ref<void(object_reader&)> declare);
json_error decode_copied(std::string_view body, callback_ref<void(object_reader&)> declare);
} // namespace detail

/// Decodes `body`, which must be one JSON object and nothing else, through `declare`. The caller
/// promises `json_padding_bytes` readable bytes after `body.data() + body.size()`; no copy is made.
template <class Declare>
  requires std::invocable<Declare&, object_reader&>
json_error decode(std::string_view body, padding_readable_t, Declare&& declare) {
  return detail::decode_padded(body, declare);
}

/// As above for a body without the padding promise: it is first copied into a padded buffer.
template <class Declare>
  requires std::invocable<Declare&, object_reader&>
json_error decode(std::string_view body, Declare&& declare) {
  return detail::decode_copied(body, declare);
}

} // namespace steward::core
