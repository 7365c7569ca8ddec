#include "core/json_schema.hpp"

#include "core/assert.hpp"
#include "core/canonical_json.hpp"
#include "core/limits.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <regex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace steward::core {

std::string_view describe(json_schema_error error) noexcept {
  switch (error) {
  case json_schema_error::none: return "no error";
  case json_schema_error::invalid_json: return "the schema is not valid JSON";
  case json_schema_error::not_a_schema: return "the schema is malformed";
  case json_schema_error::unsupported: return "the schema uses a feature steward does not support";
  case json_schema_error::bad_reference: return "a $ref does not name a subschema of this document";
  case json_schema_error::reference_cycle: return "a $ref loop never descends into the instance";
  case json_schema_error::too_large: return "the schema exceeds a size limit";
  }
  return "unknown error";
}

namespace {

namespace ondemand = simdjson::ondemand;

// --- A small JSON tree -----------------------------------------------------------------------------

// A JSON value built from canonical text (core/canonical_json.hpp), so object members are unique
// and sorted by name as unsigned bytes: object equality is a walk over both in step, and a member
// lookup is a binary search.
struct json_value {
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool flag = false;
  std::string text;              // string: its UTF-8; number: its token as written
  std::vector<std::string> keys; // object: member names, sorted
  std::vector<json_value> items; // array: elements; object: member values, parallel to `keys`
};

std::string_view type_name(json_value::kind type) {
  switch (type) {
  case json_value::kind::null: return "null";
  case json_value::kind::boolean: return "a boolean";
  case json_value::kind::number: return "a number";
  case json_value::kind::string: return "a string";
  case json_value::kind::array: return "an array";
  case json_value::kind::object: return "an object";
  }
  return "a value";
}

std::string_view trim_trailing_space(std::string_view text) {
  while (!text.empty() &&
         (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

// Builds the tree of a text that canonicalisation has already validated, so simdjson errors here
// would be a bug; they are survived as a failed parse.
bool build_value(ondemand::value value, json_value &out) {
  ondemand::json_type type;
  if (value.type().get(type)) return false;
  switch (type) {
  case ondemand::json_type::object: {
    out.type = json_value::kind::object;
    ondemand::object object;
    if (value.get_object().get(object)) return false;
    for (auto member : object) {
      ondemand::field field;
      std::string_view key;
      if (std::move(member).get(field) || field.unescaped_key().get(key)) return false;
      out.keys.emplace_back(key);
      out.items.emplace_back();
      if (!build_value(field.value(), out.items.back())) return false;
    }
    return true;
  }
  case ondemand::json_type::array: {
    out.type = json_value::kind::array;
    ondemand::array array;
    if (value.get_array().get(array)) return false;
    for (auto element : array) {
      ondemand::value item;
      if (std::move(element).get(item)) return false;
      out.items.emplace_back();
      if (!build_value(item, out.items.back())) return false;
    }
    return true;
  }
  case ondemand::json_type::string: {
    out.type = json_value::kind::string;
    std::string_view text;
    if (value.get_string().get(text)) return false;
    out.text.assign(text);
    return true;
  }
  case ondemand::json_type::number:
    out.type = json_value::kind::number;
    out.text.assign(trim_trailing_space(value.raw_json_token()));
    return true;
  case ondemand::json_type::boolean:
    out.type = json_value::kind::boolean;
    return !value.get_bool().get(out.flag);
  case ondemand::json_type::null: {
    out.type = json_value::kind::null;
    bool is_null = false;
    return !value.is_null().get(is_null) && is_null;
  }
  }
  return false;
}

// Parses `text` into `out`, checking it the way every JSON text of the API is checked. Answers the
// canonicalisation error (`none` on success).
canonical_json_error parse_json(std::string_view text, json_value &out) {
  canonical_json canonical = canonicalize_json(text);
  if (!canonical) return canonical.error;
  // Wrapping the one canonical value in an array lets simdjson hand every value, scalars at the
  // root included, to the same builder. The wrapper adds one level, which the canonical text's
  // own depth limit leaves room for.
  std::string wrapped;
  wrapped.reserve(canonical.text.size() + 2);
  wrapped.append("[").append(canonical.text).append("]");
  simdjson::padded_string padded(wrapped);
  ondemand::parser parser;
  ondemand::document document;
  ondemand::array array;
  if (parser.iterate(padded).get(document) || document.get_array().get(array))
    return STEWARD_SURVIVABLE(false), canonical_json_error::invalid_json;
  std::size_t count = 0;
  for (auto element : array) {
    ondemand::value item;
    if (count++ != 0 || std::move(element).get(item) || !build_value(item, out))
      return STEWARD_SURVIVABLE(false), canonical_json_error::invalid_json;
  }
  if (!STEWARD_SURVIVABLE(count == 1)) return canonical_json_error::invalid_json;
  return canonical_json_error::none;
}

// --- Exact decimals --------------------------------------------------------------------------------

// A JSON number as sign × digits × 10^exponent, with neither leading nor trailing zeros in
// `digits` (empty for zero, which is never negative). Exact for every number token, unlike a
// double, so bounds and `multipleOf` never round.
struct decimal {
  bool negative = false;
  std::string digits;
  std::int64_t exponent = 0;

  bool is_zero() const { return digits.empty(); }
  bool is_integer() const { return exponent >= 0; }
};

// Exponents written in a number beyond this are refused (as out of range) rather than compared:
// nobody configures a service with 1e100001, and it keeps every exponent sum far from overflow.
constexpr std::int64_t written_exponent_max = 100'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads a number token that canonicalisation has validated. False when its exponent is out of range.
bool parse_decimal(std::string_view token, decimal &out) {
  out = decimal{};
  std::size_t i = 0;
  bool negative = false;
  if (i < token.size() && token[i] == '-') negative = true, ++i;
  std::string digits;
  std::int64_t fraction_digits = 0;
  while (i < token.size() && is_digit(token[i])) digits += token[i++];
  if (i < token.size() && token[i] == '.') {
    ++i;
    while (i < token.size() && is_digit(token[i])) digits += token[i++], ++fraction_digits;
  }
  std::int64_t written = 0;
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < token.size() && (token[i] == '+' || token[i] == '-'))
      exponent_negative = token[i++] == '-';
    while (i < token.size() && is_digit(token[i])) {
      written = written * 10 + (token[i++] - '0');
      if (written > written_exponent_max) return false;
    }
    if (exponent_negative) written = -written;
  }
  std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return true; // zero, whatever its sign or exponent
  std::size_t last = digits.find_last_not_of('0');
  out.negative = negative;
  out.exponent = written - fraction_digits + static_cast<std::int64_t>(digits.size() - 1 - last);
  out.digits = digits.substr(first, last - first + 1);
  return true;
}

int compare_magnitude(const decimal &a, const decimal &b) {
  if (a.is_zero() || b.is_zero()) return a.is_zero() == b.is_zero() ? 0 : (a.is_zero() ? -1 : 1);
  // The position of the leading digit decides first; then the digits, where a shorter string is
  // smaller because it has no trailing zeros.
  std::int64_t a_order = static_cast<std::int64_t>(a.digits.size()) + a.exponent;
  std::int64_t b_order = static_cast<std::int64_t>(b.digits.size()) + b.exponent;
  if (a_order != b_order) return a_order < b_order ? -1 : 1;
  int order = a.digits.compare(b.digits);
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

int compare(const decimal &a, const decimal &b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int magnitude = compare_magnitude(a, b);
  return a.negative ? -magnitude : magnitude;
}

__extension__ typedef unsigned __int128 uint128;

enum class divisibility : std::uint8_t { yes, no, unknown };

// The divisor's digits after scaling both numbers to whole numbers; past it the remainder below
// would not fit in 128 bits (r * 10 + 9 < 10^38 < 2^127).
constexpr std::int64_t divisor_digits_max = 36;

// a * b mod m for a, b < m < 2^126, without overflowing 128 bits: double-and-add, keeping every
// partial result below m.
uint128 multiply_modulo(uint128 a, uint128 b, uint128 m) {
  uint128 result = 0;
  for (int bit = 127; bit >= 0; --bit) {
    result <<= 1;
    if (result >= m) result -= m;
    if (((b >> bit) & 1) != 0) {
      result += a;
      if (result >= m) result -= m;
    }
  }
  return result;
}

// Whether x / m is an integer, exactly: both are scaled to integers by the smaller exponent and
// the dividend's digits are reduced modulo the divisor one at a time. `m` is positive.
divisibility is_multiple(const decimal &x, const decimal &m) {
  if (x.is_zero()) return divisibility::yes;
  const std::int64_t base = std::min(x.exponent, m.exponent);
  const std::int64_t divisor_zeros = m.exponent - base;
  if (static_cast<std::int64_t>(m.digits.size()) + divisor_zeros > divisor_digits_max)
    return divisibility::unknown;
  uint128 divisor = 0;
  for (char c : m.digits) divisor = divisor * 10 + static_cast<unsigned>(c - '0');
  for (std::int64_t i = 0; i < divisor_zeros; ++i) divisor *= 10;
  uint128 remainder = 0;
  for (char c : x.digits) remainder = (remainder * 10 + static_cast<unsigned>(c - '0')) % divisor;
  // Then the dividend's zeros: remainder * 10^zeros mod divisor. There may be some 10^5 of them
  // (written_exponent_max plus the digits of one text), once per check of every number, and the
  // step budget does not charge for them; so by squaring, not one zero at a time.
  std::int64_t zeros = x.exponent - base;
  uint128 power = 10 % divisor;
  for (; zeros > 0 && remainder != 0; zeros >>= 1) {
    if ((zeros & 1) != 0) remainder = multiply_modulo(remainder, power, divisor);
    power = multiply_modulo(power, power, divisor);
  }
  return remainder == 0 ? divisibility::yes : divisibility::no;
}

// --- Equality (for enum, const and uniqueItems) --------------------------------------------------

// JSON Schema equality: numbers by value (1 equals 1.0), objects regardless of member order (the
// canonical trees are sorted). Counts one step per value visited into `steps`.
bool json_equal(const json_value &a, const json_value &b, std::uint32_t &steps) {
  ++steps;
  if (a.type != b.type) return false;
  switch (a.type) {
  case json_value::kind::null: return true;
  case json_value::kind::boolean: return a.flag == b.flag;
  case json_value::kind::string: return a.text == b.text;
  case json_value::kind::number: {
    decimal x, y;
    if (!parse_decimal(a.text, x) || !parse_decimal(b.text, y)) return a.text == b.text;
    return compare(x, y) == 0;
  }
  case json_value::kind::array:
  case json_value::kind::object:
    if (a.items.size() != b.items.size() || a.keys != b.keys) return false;
    for (std::size_t i = 0; i < a.items.size(); ++i)
      if (!json_equal(a.items[i], b.items[i], steps)) return false;
    return true;
  }
  return false;
}

// --- Patterns --------------------------------------------------------------------------------------

constexpr std::size_t weight_cap = limits::json_schema_pattern_weight_max + 1;

std::size_t saturating_add(std::size_t a, std::size_t b) { return std::min(weight_cap, a + b); }
std::size_t saturating_multiply(std::size_t a, std::size_t b) {
  if (a != 0 && b > weight_cap / a) return weight_cap;
  return std::min(weight_cap, a * b);
}

// Measures a pattern's expansion (see limits::json_schema_pattern_weight_max) and refuses the
// features the polynomial matcher cannot run in linear time. This is a scan of the structure
// only; std::regex still parses the pattern and rejects what is malformed. Answers an empty
// string when the pattern is acceptable, else why not.
std::string scan_pattern(std::string_view pattern, std::size_t &weight) {
  std::vector<std::size_t> groups{0}; // weight of each open group; [0] is the whole pattern
  std::size_t last = 0;               // weight of the atom a quantifier would repeat
  // A count past the weight bound cannot fit whatever it repeats, and whether or not its brace
  // closes: the pattern is refused as too heavy, so std::regex never parses a count that its own
  // parser would overflow (a `long`, in libstdc++ 12).
  bool count_too_large = false;
  auto add_atom = [&](std::size_t atom) {
    groups.back() = saturating_add(groups.back(), atom);
    last = atom;
  };
  std::size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 == pattern.size()) return "pattern ends with a backslash";
      char next = pattern[i + 1];
      if ((next >= '1' && next <= '9') || next == 'k') return "back-references are not supported";
      add_atom(1);
      i += 2;
    } else if (c == '[') {
      std::size_t j = i + 1;
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      if (j >= pattern.size()) return "unterminated character class";
      add_atom(1);
      i = j + 1;
    } else if (c == '(') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '?') {
        if (i + 2 < pattern.size() && pattern[i + 2] == ':')
          i += 3;
        else
          return "look-around and named groups are not supported";
      } else {
        ++i;
      }
      groups.push_back(0);
      last = 0;
    } else if (c == ')') {
      if (groups.size() == 1) return "unbalanced parenthesis";
      std::size_t group = std::max<std::size_t>(groups.back(), 1);
      groups.pop_back();
      add_atom(group);
      ++i;
    } else if (c == '{') {
      // `{n}`, `{n,}` or `{n,m}` repeats the last atom; anything else is left to std::regex.
      std::size_t j = i + 1, low = 0, high = 0;
      bool has_low = false, has_comma = false, has_high = false;
      while (j < pattern.size() && is_digit(pattern[j]))
        low = std::min<std::size_t>(low * 10 + static_cast<std::size_t>(pattern[j++] - '0'),
                                    weight_cap),
        has_low = true;
      if (j < pattern.size() && pattern[j] == ',') {
        has_comma = true;
        ++j;
        while (j < pattern.size() && is_digit(pattern[j]))
          high = std::min<std::size_t>(high * 10 + static_cast<std::size_t>(pattern[j++] - '0'),
                                       weight_cap),
          has_high = true;
      }
      if (low >= weight_cap || high >= weight_cap)
        count_too_large = true;
      if (has_low && j < pattern.size() && pattern[j] == '}') {
        std::size_t copies = has_high ? high : (has_comma ? low + 1 : low);
        // The atom is already counted once.
        std::size_t extra = saturating_multiply(last, copies > 0 ? copies - 1 : 0);
        groups.back() = saturating_add(groups.back(), extra);
        last = 0;
        i = j + 1;
      } else {
        add_atom(1);
        ++i;
      }
    } else if (c == '*' || c == '+' || c == '?') {
      last = 0; // one more copy of the atom at most; the automaton loops instead of growing
      ++i;
    } else if (c == '|') {
      last = 0;
      ++i;
    } else {
      add_atom(1);
      ++i;
    }
  }
  if (groups.size() != 1) return "unbalanced parenthesis";
  weight = count_too_large ? weight_cap : groups[0];
  return {};
}

struct compiled_pattern {
  std::string source;
  std::size_t weight = 0; // see scan_pattern
  std::regex matcher;     // `[\s\S]*(?:source)[\s\S]*`, for one linear-time std::regex_match
};

// Steps a match of `pattern` against `bytes` bytes is charged (limits::json_schema_steps_max).
std::uint32_t match_steps(const compiled_pattern &pattern, std::size_t bytes) {
  return static_cast<std::uint32_t>(1 + bytes * pattern.weight / 2);
}

constexpr auto regex_flags = std::regex::ECMAScript | std::regex_constants::__polynomial;

enum class pattern_match : std::uint8_t { yes, no, too_long, failed };

pattern_match match(const compiled_pattern &pattern, std::string_view subject) {
  if (subject.size() > limits::json_schema_pattern_subject_bytes_max)
    return pattern_match::too_long;
  // std::regex reports resource exhaustion only by throwing; polynomial mode is not known to, but
  // a throw must not escape into a request handler.
  try {
    return std::regex_match(subject.begin(), subject.end(), pattern.matcher) ? pattern_match::yes
                                                                             : pattern_match::no;
  } catch (const std::regex_error &) {
    return pattern_match::failed;
  }
}

// --- Compiled schema ---------------------------------------------------------------------------------

using schema_index = std::uint32_t;
constexpr schema_index no_schema = std::numeric_limits<schema_index>::max();

enum type_bits : std::uint8_t {
  type_null = 1,
  type_boolean = 2,
  type_object = 4,
  type_array = 8,
  type_number = 16,
  type_string = 32,
  type_integer = 64,
};

struct schema_node {
  std::string location; // RFC 6901 pointer of this subschema in the schema text
  bool is_boolean = false;
  bool boolean_value = true;

  std::uint8_t types = 0; // 0: any type
  bool has_enum = false;
  std::vector<json_value> enum_values;
  std::optional<json_value> const_value;

  std::optional<decimal> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;

  std::optional<std::uint64_t> min_length, max_length;
  schema_index pattern = no_schema; // into compiled::patterns

  std::optional<std::uint64_t> min_items, max_items, min_contains, max_contains;
  bool unique_items = false;
  std::vector<schema_index> prefix_items;
  schema_index items = no_schema;
  schema_index contains = no_schema;
  // Where `items` and `prefixItems` came from, for error pointers (draft-07 spells them otherwise).
  std::string items_keyword = "items", prefix_items_keyword = "prefixItems";

  std::optional<std::uint64_t> min_properties, max_properties;
  std::vector<std::string> required;
  std::vector<std::pair<std::string, schema_index>> properties;          // sorted by name
  std::vector<std::pair<schema_index, schema_index>> pattern_properties; // (pattern, schema)
  schema_index additional_properties = no_schema;
  schema_index property_names = no_schema;
  std::vector<std::pair<std::string, std::vector<std::string>>> dependent_required;
  std::vector<std::pair<std::string, schema_index>> dependent_schemas;

  std::vector<schema_index> all_of, any_of, one_of;
  schema_index not_schema = no_schema, if_schema = no_schema, then_schema = no_schema,
               else_schema = no_schema;
  schema_index ref = no_schema;
};

} // namespace

struct json_schema::compiled {
  std::vector<schema_node> nodes; // [0] is the root
  std::vector<compiled_pattern> patterns;
};

namespace {

std::string pointer_token(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string child_location(std::string_view parent, std::string_view token) {
  return std::string(parent).append("/").append(pointer_token(token));
}

const json_value *find_member(const json_value &object, std::string_view key) {
  auto it = std::lower_bound(object.keys.begin(), object.keys.end(), key);
  if (it == object.keys.end() || *it != key) return nullptr;
  return &object.items[static_cast<std::size_t>(it - object.keys.begin())];
}

// Decodes the %XX escapes of a URI fragment. False when one is malformed.
bool percent_decode(std::string_view text, std::string &out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false; // needs two hex digits after the `%`
    int high = hex(text[i + 1]), low = hex(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return true;
}

class schema_compiler {
public:
  schema_compiler(json_schema::compiled &out, json_schema_compiled &result)
    : out_(out), result_(result) {}

  bool compile_document(const json_value &root) {
    if (compile(root, "", true) == no_schema) return false;
    return resolve_references() && check_cycles();
  }

private:
  struct pending_reference {
    schema_index from;
    std::string target; // the $ref value
  };

  bool fail(json_schema_error code, std::string pointer, std::string detail) {
    if (result_.error != json_schema_error::none) return false;
    result_.error = code;
    result_.pointer = std::move(pointer);
    result_.detail = std::move(detail);
    return false;
  }

  // Reads a keyword that must be a non-negative integer (1.0 counts, as the specification says).
  bool read_count(const json_value &value, const std::string &location, std::string_view keyword,
                  std::optional<std::uint64_t> &out) {
    decimal number;
    if (value.type != json_value::kind::number || !parse_decimal(value.text, number) ||
        number.negative || !number.is_integer())
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " must be a non-negative integer");
    // A count beyond 2^64 - 1 bounds nothing any instance could reach; clamp it.
    std::uint64_t count = 0;
    if (!number.is_zero()) {
      if (static_cast<std::int64_t>(number.digits.size()) + number.exponent > 19) {
        count = std::numeric_limits<std::uint64_t>::max();
      } else {
        std::string whole =
          number.digits + std::string(static_cast<std::size_t>(number.exponent), '0');
        unsigned long long parsed = 0;
        for (char c : whole) {
          unsigned digit = static_cast<unsigned>(c - '0');
          if (parsed > (std::numeric_limits<unsigned long long>::max() - digit) / 10) {
            parsed = std::numeric_limits<unsigned long long>::max();
            break;
          }
          parsed = parsed * 10 + digit;
        }
        count = parsed;
      }
    }
    out = count;
    return true;
  }

  bool read_number(const json_value &value, const std::string &location, std::string_view keyword,
                   std::optional<decimal> &out) {
    if (value.type == json_value::kind::boolean)
      return fail(json_schema_error::unsupported, location,
                  std::string(keyword) +
                    " as a boolean is draft-04; use a number (draft-06 and later)");
    decimal number;
    if (value.type != json_value::kind::number)
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " must be a number");
    if (!parse_decimal(value.text, number))
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " has an exponent out of range");
    out = std::move(number);
    return true;
  }

  bool read_strings(const json_value &value, const std::string &location, std::string_view keyword,
                    std::vector<std::string> &out) {
    if (value.type != json_value::kind::array)
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " must be an array of strings");
    for (std::size_t i = 0; i < value.items.size(); ++i) {
      const json_value &item = value.items[i];
      if (item.type != json_value::kind::string)
        return fail(json_schema_error::not_a_schema, location + "/" + std::to_string(i),
                    std::string(keyword) + " must be an array of strings");
      if (std::find(out.begin(), out.end(), item.text) != out.end())
        return fail(json_schema_error::not_a_schema, location + "/" + std::to_string(i),
                    std::string(keyword) + " must not repeat a name");
      out.push_back(item.text);
    }
    return true;
  }

  bool read_pattern(const json_value &value, const std::string &location, schema_index &out) {
    if (value.type != json_value::kind::string)
      return fail(json_schema_error::not_a_schema, location, "a pattern must be a string");
    return add_pattern(value.text, location, out);
  }

  bool add_pattern(const std::string &source, const std::string &location, schema_index &out) {
    for (std::size_t i = 0; i < out_.patterns.size(); ++i) {
      if (out_.patterns[i].source == source) {
        out = static_cast<schema_index>(i);
        return true;
      }
    }
    if (out_.patterns.size() >= limits::json_schema_patterns_max)
      return fail(json_schema_error::too_large, location,
                  "more than " + std::to_string(limits::json_schema_patterns_max) + " patterns");
    if (source.size() > limits::json_schema_pattern_bytes_max)
      return fail(json_schema_error::too_large, location,
                  "pattern longer than " + std::to_string(limits::json_schema_pattern_bytes_max) +
                    " bytes");
    std::size_t weight = 0;
    if (std::string why = scan_pattern(source, weight); !why.empty())
      return fail(why.find("not supported") != std::string::npos ? json_schema_error::unsupported
                                                                 : json_schema_error::not_a_schema,
                  location, why);
    if (weight > limits::json_schema_pattern_weight_max)
      return fail(json_schema_error::too_large, location,
                  "pattern repeats too much (expansion over " +
                    std::to_string(limits::json_schema_pattern_weight_max) + ")");
    // std::regex reports a malformed pattern only by throwing; the exception stays in here.
    try {
      std::regex check(source, regex_flags); // the pattern alone, so that `a)(b` cannot pass
      compiled_pattern pattern{source, weight,
                               std::regex("[\\s\\S]*(?:" + source + ")[\\s\\S]*", regex_flags)};
      out = static_cast<schema_index>(out_.patterns.size());
      out_.patterns.push_back(std::move(pattern));
      return true;
    } catch (const std::regex_error &) {
      return fail(json_schema_error::not_a_schema, location,
                  "not a regular expression std::regex accepts (ECMAScript)");
    }
  }

  // Compiles each member of an object-valued keyword as a subschema.
  bool compile_map(const json_value &value, const std::string &location, std::string_view keyword,
                   std::vector<std::pair<std::string, schema_index>> &out) {
    if (value.type != json_value::kind::object)
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " must be an object of schemas");
    for (std::size_t i = 0; i < value.keys.size(); ++i) {
      schema_index child = compile(value.items[i], child_location(location, value.keys[i]));
      if (child == no_schema) return false;
      out.emplace_back(value.keys[i], child);
    }
    return true; // sorted already: the tree is canonical
  }

  bool compile_list(const json_value &value, const std::string &location, std::string_view keyword,
                    std::vector<schema_index> &out, bool allow_empty) {
    if (value.type != json_value::kind::array || (!allow_empty && value.items.empty()))
      return fail(json_schema_error::not_a_schema, location,
                  std::string(keyword) + " must be a non-empty array of schemas");
    for (std::size_t i = 0; i < value.items.size(); ++i) {
      schema_index child = compile(value.items[i], location + "/" + std::to_string(i));
      if (child == no_schema) return false;
      out.push_back(child);
    }
    return true;
  }

  bool compile_one(const json_value &value, const std::string &location, schema_index &out) {
    out = compile(value, location);
    return out != no_schema;
  }

  bool read_type(const json_value &value, const std::string &location, std::uint8_t &out) {
    auto bit = [](std::string_view name) -> std::uint8_t {
      if (name == "null") return type_null;
      if (name == "boolean") return type_boolean;
      if (name == "object") return type_object;
      if (name == "array") return type_array;
      if (name == "number") return type_number;
      if (name == "string") return type_string;
      if (name == "integer") return type_integer;
      return 0;
    };
    const std::string_view expected =
      "type must be null, boolean, object, array, number, string or integer, or an array of them";
    if (value.type == json_value::kind::string) {
      out = bit(value.text);
      if (out == 0) return fail(json_schema_error::not_a_schema, location, std::string(expected));
      return true;
    }
    if (value.type != json_value::kind::array || value.items.empty())
      return fail(json_schema_error::not_a_schema, location, std::string(expected));
    out = 0;
    for (const json_value &item : value.items) {
      std::uint8_t b = item.type == json_value::kind::string ? bit(item.text) : 0;
      if (b == 0 || (out & b) != 0)
        return fail(json_schema_error::not_a_schema, location, std::string(expected));
      out |= b;
    }
    return true;
  }

  // Compiles one subschema; answers its index or no_schema after recording an error.
  schema_index compile(const json_value &value, std::string location, bool is_root = false) {
    if (out_.nodes.size() >= limits::json_schema_subschemas_max)
      return fail(json_schema_error::too_large, location,
                  "more than " + std::to_string(limits::json_schema_subschemas_max) +
                    " subschemas"),
             no_schema;
    // The node is built apart and stored at the end: compiling children grows `out_.nodes`, which
    // would invalidate a reference into it.
    const schema_index self = static_cast<schema_index>(out_.nodes.size());
    out_.nodes.emplace_back();
    by_location_.emplace(location, self);
    schema_node node;
    node.location = location;
    if (value.type == json_value::kind::boolean) {
      node.is_boolean = true;
      node.boolean_value = value.flag;
      out_.nodes[self] = std::move(node);
      return self;
    }
    if (value.type != json_value::kind::object)
      return fail(json_schema_error::not_a_schema, location,
                  "a schema must be an object or a boolean"),
             no_schema;
    if (!compile_keywords(value, location, is_root, self, node)) return no_schema;
    out_.nodes[self] = std::move(node);
    return self;
  }

  bool compile_keywords(const json_value &schema, const std::string &location, bool is_root,
                        schema_index self, schema_node &node) {
    // Draft-07's array form of `items` turns `additionalItems` into what 2020-12 calls `items`.
    const json_value *items = find_member(schema, "items");
    const bool items_is_array = items && items->type == json_value::kind::array;
    for (std::size_t i = 0; i < schema.keys.size(); ++i) {
      const std::string &keyword = schema.keys[i];
      const json_value &value = schema.items[i];
      const std::string at = child_location(location, keyword);
      bool ok = true;
      if (keyword == "$ref") {
        if (value.type != json_value::kind::string)
          return fail(json_schema_error::not_a_schema, at, "$ref must be a string");
        references_.push_back({self, value.text});
        reference_locations_.push_back(at);
      } else if (keyword == "$id") {
        if (!is_root)
          return fail(json_schema_error::unsupported, at,
                      "$id is supported only at the root (it would change how $ref resolves)");
      } else if (keyword == "$dynamicRef" || keyword == "$dynamicAnchor" ||
                 keyword == "$recursiveRef" || keyword == "$recursiveAnchor" ||
                 keyword == "unevaluatedProperties" || keyword == "unevaluatedItems") {
        return fail(json_schema_error::unsupported, at, keyword + " is not supported");
      } else if (keyword == "$defs" || keyword == "definitions") {
        std::vector<std::pair<std::string, schema_index>> unused;
        ok = compile_map(value, at, keyword, unused);
      } else if (keyword == "type") {
        ok = read_type(value, at, node.types);
      } else if (keyword == "enum") {
        if (value.type != json_value::kind::array)
          return fail(json_schema_error::not_a_schema, at, "enum must be an array");
        node.has_enum = true;
        node.enum_values = value.items;
      } else if (keyword == "const") {
        node.const_value = value;
      } else if (keyword == "multipleOf") {
        ok = read_number(value, at, keyword, node.multiple_of);
        if (ok && (node.multiple_of->is_zero() || node.multiple_of->negative))
          return fail(json_schema_error::not_a_schema, at, "multipleOf must be greater than 0");
      } else if (keyword == "minimum") {
        ok = read_number(value, at, keyword, node.minimum);
      } else if (keyword == "maximum") {
        ok = read_number(value, at, keyword, node.maximum);
      } else if (keyword == "exclusiveMinimum") {
        ok = read_number(value, at, keyword, node.exclusive_minimum);
      } else if (keyword == "exclusiveMaximum") {
        ok = read_number(value, at, keyword, node.exclusive_maximum);
      } else if (keyword == "minLength") {
        ok = read_count(value, at, keyword, node.min_length);
      } else if (keyword == "maxLength") {
        ok = read_count(value, at, keyword, node.max_length);
      } else if (keyword == "pattern") {
        ok = read_pattern(value, at, node.pattern);
      } else if (keyword == "minItems") {
        ok = read_count(value, at, keyword, node.min_items);
      } else if (keyword == "maxItems") {
        ok = read_count(value, at, keyword, node.max_items);
      } else if (keyword == "minContains") {
        ok = read_count(value, at, keyword, node.min_contains);
      } else if (keyword == "maxContains") {
        ok = read_count(value, at, keyword, node.max_contains);
      } else if (keyword == "uniqueItems") {
        if (value.type != json_value::kind::boolean)
          return fail(json_schema_error::not_a_schema, at, "uniqueItems must be a boolean");
        node.unique_items = value.flag;
      } else if (keyword == "items") {
        if (items_is_array) {
          if (find_member(schema, "prefixItems"))
            return fail(json_schema_error::not_a_schema, at,
                        "items as an array (draft-07) cannot be combined with prefixItems");
          node.prefix_items_keyword = "items";
          ok = compile_list(value, at, keyword, node.prefix_items, true);
        } else {
          ok = compile_one(value, at, node.items);
        }
      } else if (keyword == "additionalItems") {
        if (items_is_array) {
          node.items_keyword = "additionalItems";
          ok = compile_one(value, at, node.items);
        } // without the array form of items it has no effect (draft-07) or no meaning (2020-12)
      } else if (keyword == "prefixItems") {
        ok = compile_list(value, at, keyword, node.prefix_items, false);
      } else if (keyword == "contains") {
        ok = compile_one(value, at, node.contains);
      } else if (keyword == "minProperties") {
        ok = read_count(value, at, keyword, node.min_properties);
      } else if (keyword == "maxProperties") {
        ok = read_count(value, at, keyword, node.max_properties);
      } else if (keyword == "required") {
        ok = read_strings(value, at, keyword, node.required);
      } else if (keyword == "properties") {
        ok = compile_map(value, at, keyword, node.properties);
      } else if (keyword == "patternProperties") {
        if (value.type != json_value::kind::object)
          return fail(json_schema_error::not_a_schema, at, "patternProperties must be an object");
        for (std::size_t p = 0; ok && p < value.keys.size(); ++p) {
          const std::string member_at = child_location(at, value.keys[p]);
          schema_index pattern = no_schema, child = no_schema;
          ok = add_pattern(value.keys[p], member_at, pattern) &&
               compile_one(value.items[p], member_at, child);
          if (ok) node.pattern_properties.emplace_back(pattern, child);
        }
      } else if (keyword == "additionalProperties") {
        ok = compile_one(value, at, node.additional_properties);
      } else if (keyword == "propertyNames") {
        ok = compile_one(value, at, node.property_names);
      } else if (keyword == "dependentRequired") {
        if (value.type != json_value::kind::object)
          return fail(json_schema_error::not_a_schema, at, "dependentRequired must be an object");
        for (std::size_t d = 0; ok && d < value.keys.size(); ++d) {
          node.dependent_required.emplace_back(value.keys[d], std::vector<std::string>{});
          ok = read_strings(value.items[d], child_location(at, value.keys[d]), keyword,
                            node.dependent_required.back().second);
        }
      } else if (keyword == "dependentSchemas") {
        ok = compile_map(value, at, keyword, node.dependent_schemas);
      } else if (keyword == "dependencies") {
        // Draft-07: an array means dependentRequired, a schema means dependentSchemas.
        if (value.type != json_value::kind::object)
          return fail(json_schema_error::not_a_schema, at, "dependencies must be an object");
        for (std::size_t d = 0; ok && d < value.keys.size(); ++d) {
          const std::string member_at = child_location(at, value.keys[d]);
          if (value.items[d].type == json_value::kind::array) {
            node.dependent_required.emplace_back(value.keys[d], std::vector<std::string>{});
            ok = read_strings(value.items[d], member_at, keyword,
                              node.dependent_required.back().second);
          } else {
            schema_index child = no_schema;
            ok = compile_one(value.items[d], member_at, child);
            if (ok) node.dependent_schemas.emplace_back(value.keys[d], child);
          }
        }
      } else if (keyword == "allOf") {
        ok = compile_list(value, at, keyword, node.all_of, false);
      } else if (keyword == "anyOf") {
        ok = compile_list(value, at, keyword, node.any_of, false);
      } else if (keyword == "oneOf") {
        ok = compile_list(value, at, keyword, node.one_of, false);
      } else if (keyword == "not") {
        ok = compile_one(value, at, node.not_schema);
      } else if (keyword == "if") {
        ok = compile_one(value, at, node.if_schema);
      } else if (keyword == "then") {
        ok = compile_one(value, at, node.then_schema);
      } else if (keyword == "else") {
        ok = compile_one(value, at, node.else_schema);
      }
      // Anything else is an annotation (title, description, default, examples, format, ...) or an
      // unknown keyword, both of which JSON Schema says to ignore.
      if (!ok) return false;
    }
    return true;
  }

  bool resolve_references() {
    for (std::size_t i = 0; i < references_.size(); ++i) {
      const std::string &target = references_[i].target;
      const std::string &at = reference_locations_[i];
      if (target.empty() || target[0] != '#')
        return fail(json_schema_error::bad_reference, at,
                    "only references within this document (#/...) are supported");
      std::string pointer;
      if (!percent_decode(std::string_view(target).substr(1), pointer))
        return fail(json_schema_error::bad_reference, at, "malformed percent escape in $ref");
      if (!pointer.empty() && pointer[0] != '/')
        return fail(json_schema_error::unsupported, at,
                    "references to $anchor names are not supported");
      auto found = by_location_.find(pointer);
      if (found == by_location_.end())
        return fail(json_schema_error::bad_reference, at,
                    "$ref target is not a subschema: " + target);
      out_.nodes[references_[i].from].ref = found->second;
    }
    return true;
  }

  // A cycle through keywords that apply to the same instance value ($ref, allOf, anyOf, oneOf,
  // not, if/then/else, dependentSchemas) would recurse for ever; keywords that descend into a
  // member or an item end every loop, because the instance is finite.
  bool check_cycles() {
    enum class mark : std::uint8_t { unvisited, active, done };
    std::vector<mark> marks(out_.nodes.size(), mark::unvisited);
    // Iterative depth-first search: a schema may chain thousands of subschemas.
    struct frame {
      schema_index node;
      std::vector<schema_index> next;
      std::size_t position = 0;
    };
    auto in_place = [&](schema_index n) {
      const schema_node &s = out_.nodes[n];
      std::vector<schema_index> next(s.all_of);
      next.insert(next.end(), s.any_of.begin(), s.any_of.end());
      next.insert(next.end(), s.one_of.begin(), s.one_of.end());
      for (schema_index one : {s.ref, s.not_schema, s.if_schema, s.then_schema, s.else_schema})
        if (one != no_schema) next.push_back(one);
      for (const auto &entry : s.dependent_schemas) next.push_back(entry.second);
      return next;
    };
    for (schema_index start = 0; start < out_.nodes.size(); ++start) {
      if (marks[start] != mark::unvisited) continue;
      std::vector<frame> stack;
      stack.push_back({start, in_place(start)});
      marks[start] = mark::active;
      while (!stack.empty()) {
        frame &top = stack.back();
        if (top.position == top.next.size()) {
          marks[top.node] = mark::done;
          stack.pop_back();
          continue;
        }
        schema_index child = top.next[top.position++];
        if (marks[child] == mark::active)
          return fail(json_schema_error::reference_cycle, out_.nodes[child].location,
                      "this subschema applies itself to the same value again through $ref");
        if (marks[child] == mark::unvisited) {
          marks[child] = mark::active;
          stack.push_back({child, in_place(child)});
        }
      }
    }
    return true;
  }

  json_schema::compiled &out_;
  json_schema_compiled &result_;
  std::unordered_map<std::string, schema_index> by_location_;
  std::vector<pending_reference> references_;
  std::vector<std::string> reference_locations_;
};

// --- Validation --------------------------------------------------------------------------------------

std::uint64_t code_points(std::string_view text) {
  std::uint64_t count = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  return count;
}

class validator {
public:
  validator(const json_schema::compiled &schema, json_schema_violation &out)
    : schema_(schema), out_(out) {}

  void run(const json_value &instance) { check(0, instance, false); }

private:
  // Records the first violation; `quiet` evaluation (inside anyOf, oneOf, not, if, contains)
  // records nothing, because its failures may be expected.
  bool fail(bool quiet, const schema_node &node, std::string_view keyword, std::string detail) {
    if (quiet || out_.failed) return false;
    out_.failed = true;
    out_.instance_pointer = instance_pointer();
    out_.schema_pointer = keyword.empty() ? node.location : child_location(node.location, keyword);
    out_.detail = std::move(detail);
    return false;
  }

  // Stops the whole evaluation: the answer is a violation whatever quiet context is active.
  bool abort(const schema_node &node, std::string detail) {
    if (!aborted_) {
      aborted_ = true;
      out_ = json_schema_violation{};
      out_.failed = true;
      out_.instance_pointer = instance_pointer();
      out_.schema_pointer = node.location;
      out_.detail = std::move(detail);
    }
    return false;
  }

  std::string instance_pointer() const {
    std::string pointer;
    for (const std::string &token : path_) pointer.append("/").append(token);
    return pointer;
  }

  bool over_budget(const schema_node &node) {
    if (steps_ <= limits::json_schema_steps_max) return false;
    abort(node, "the schema is too complex to check this value");
    return true;
  }

  // A path segment pushed for the duration of a nested check.
  class descend {
  public:
    descend(validator &v, std::string token) : v_(v) { v_.path_.push_back(std::move(token)); }
    ~descend() { v_.path_.pop_back(); }
    descend(const descend &) = delete;
    descend &operator=(const descend &) = delete;

  private:
    validator &v_;
  };

  bool check_at(schema_index index, const json_value &value, bool quiet, std::string token) {
    descend step(*this, std::move(token));
    return check(index, value, quiet);
  }

  bool check(schema_index index, const json_value &value, bool quiet) {
    if (aborted_) return false;
    const schema_node &node = schema_.nodes[index];
    ++steps_;
    if (over_budget(node)) return false;
    if (depth_ >= limits::json_schema_eval_depth_max)
      return abort(node, "the schema nests too deeply to check this value");
    ++depth_;
    bool ok = check_node(node, value, quiet);
    --depth_;
    return ok && !aborted_;
  }

  bool check_node(const schema_node &node, const json_value &value, bool quiet) {
    if (node.is_boolean)
      return node.boolean_value || fail(quiet, node, "", "no value is allowed here");
    if (node.ref != no_schema && !check(node.ref, value, quiet)) return false;
    if (!check_type(node, value, quiet) || !check_constants(node, value, quiet)) return false;
    switch (value.type) {
    case json_value::kind::number:
      if (!check_number(node, value, quiet)) return false;
      break;
    case json_value::kind::string:
      if (!check_string(node, value, quiet)) return false;
      break;
    case json_value::kind::array:
      if (!check_array(node, value, quiet)) return false;
      break;
    case json_value::kind::object:
      if (!check_object(node, value, quiet)) return false;
      break;
    default: break;
    }
    return check_combinators(node, value, quiet);
  }

  bool check_type(const schema_node &node, const json_value &value, bool quiet) {
    if (node.types == 0) return true;
    std::uint8_t have = 0;
    switch (value.type) {
    case json_value::kind::null: have = type_null; break;
    case json_value::kind::boolean: have = type_boolean; break;
    case json_value::kind::object: have = type_object; break;
    case json_value::kind::array: have = type_array; break;
    case json_value::kind::string: have = type_string; break;
    case json_value::kind::number: {
      have = type_number;
      decimal number;
      if (parse_decimal(value.text, number) && number.is_integer()) have |= type_integer;
      break;
    }
    }
    if ((node.types & have) != 0) return true;
    std::string expected;
    for (auto [bit, name] : {std::pair{type_null, "null"},
                             {type_boolean, "boolean"},
                             {type_object, "object"},
                             {type_array, "array"},
                             {type_number, "number"},
                             {type_string, "string"},
                             {type_integer, "integer"}}) {
      if ((node.types & bit) == 0) continue;
      if (!expected.empty()) expected += " or ";
      expected += name;
    }
    std::string got(type_name(value.type));
    if (value.type == json_value::kind::number) got = "a number that is not an integer";
    return fail(quiet, node, "type", "expected " + expected + ", got " + got);
  }

  bool check_constants(const schema_node &node, const json_value &value, bool quiet) {
    if (node.const_value) {
      bool equal = json_equal(*node.const_value, value, steps_);
      if (over_budget(node)) return false;
      if (!equal) return fail(quiet, node, "const", "must be the value the schema fixes");
    }
    if (node.has_enum) {
      bool found = false;
      for (const json_value &candidate : node.enum_values) {
        found = json_equal(candidate, value, steps_);
        if (over_budget(node)) return false;
        if (found) break;
      }
      if (!found) return fail(quiet, node, "enum", "must be one of the values the schema lists");
    }
    return true;
  }

  bool check_number(const schema_node &node, const json_value &value, bool quiet) {
    if (!node.minimum && !node.maximum && !node.exclusive_minimum && !node.exclusive_maximum &&
        !node.multiple_of)
      return true;
    decimal number;
    if (!parse_decimal(value.text, number))
      return fail(quiet, node, "", "number exponent out of the range this server compares");
    if (node.minimum && compare(number, *node.minimum) < 0)
      return fail(quiet, node, "minimum", "must be at least the schema's minimum");
    if (node.maximum && compare(number, *node.maximum) > 0)
      return fail(quiet, node, "maximum", "must be at most the schema's maximum");
    if (node.exclusive_minimum && compare(number, *node.exclusive_minimum) <= 0)
      return fail(quiet, node, "exclusiveMinimum",
                  "must be greater than the schema's exclusiveMinimum");
    if (node.exclusive_maximum && compare(number, *node.exclusive_maximum) >= 0)
      return fail(quiet, node, "exclusiveMaximum",
                  "must be less than the schema's exclusiveMaximum");
    if (node.multiple_of) {
      switch (is_multiple(number, *node.multiple_of)) {
      case divisibility::yes: break;
      case divisibility::no:
        return fail(quiet, node, "multipleOf", "must be a multiple of the schema's multipleOf");
      case divisibility::unknown:
        return fail(quiet, node, "multipleOf", "too precise to check against multipleOf");
      }
    }
    return true;
  }

  bool check_pattern(const schema_node &node, std::string_view subject, std::string_view keyword,
                     schema_index pattern, bool quiet, bool &matched) {
    // Charged before matching, so the budget stops a match before it runs, not after.
    steps_ += match_steps(schema_.patterns[pattern], subject.size());
    if (over_budget(node)) return false;
    switch (match(schema_.patterns[pattern], subject)) {
    case pattern_match::yes: matched = true; return true;
    case pattern_match::no: matched = false; return true;
    case pattern_match::too_long:
      return fail(quiet, node, keyword,
                  "longer than " + std::to_string(limits::json_schema_pattern_subject_bytes_max) +
                    " bytes, too long to check against a pattern");
    case pattern_match::failed: break;
    }
    return fail(quiet, node, keyword, "could not be checked against the pattern");
  }

  bool check_string(const schema_node &node, const json_value &value, bool quiet) {
    if (node.min_length || node.max_length) {
      std::uint64_t length = code_points(value.text);
      if (node.min_length && length < *node.min_length)
        return fail(quiet, node, "minLength",
                    "must be at least " + std::to_string(*node.min_length) + " characters");
      if (node.max_length && length > *node.max_length)
        return fail(quiet, node, "maxLength",
                    "must be at most " + std::to_string(*node.max_length) + " characters");
    }
    if (node.pattern != no_schema) {
      bool matched = false;
      if (!check_pattern(node, value.text, "pattern", node.pattern, quiet, matched)) return false;
      if (!matched)
        return fail(quiet, node, "pattern",
                    "must match the pattern " + schema_.patterns[node.pattern].source);
    }
    return true;
  }

  bool check_array(const schema_node &node, const json_value &value, bool quiet) {
    const std::size_t count = value.items.size();
    if (node.min_items && count < *node.min_items)
      return fail(quiet, node, "minItems",
                  "must have at least " + std::to_string(*node.min_items) + " items");
    if (node.max_items && count > *node.max_items)
      return fail(quiet, node, "maxItems",
                  "must have at most " + std::to_string(*node.max_items) + " items");
    if (node.unique_items) {
      for (std::size_t i = 0; i < count; ++i) {
        for (std::size_t j = i + 1; j < count; ++j) {
          bool equal = json_equal(value.items[i], value.items[j], steps_);
          if (over_budget(node)) return false;
          if (equal)
            return fail(quiet, node, "uniqueItems",
                        "items " + std::to_string(i) + " and " + std::to_string(j) + " are equal");
        }
      }
    }
    const std::size_t prefix = std::min(count, node.prefix_items.size());
    for (std::size_t i = 0; i < prefix; ++i)
      if (!check_at(node.prefix_items[i], value.items[i], quiet, std::to_string(i))) return false;
    if (node.items != no_schema)
      for (std::size_t i = node.prefix_items.size(); i < count; ++i)
        if (!check_at(node.items, value.items[i], quiet, std::to_string(i))) return false;
    if (node.contains != no_schema) {
      std::uint64_t matches = 0;
      for (std::size_t i = 0; i < count; ++i) {
        if (check_at(node.contains, value.items[i], true, std::to_string(i))) ++matches;
        if (aborted_) return false;
      }
      const std::uint64_t least = node.min_contains.value_or(1);
      if (matches < least)
        return fail(quiet, node, node.min_contains ? "minContains" : "contains",
                    "must contain at least " + std::to_string(least) + " matching item(s)");
      if (node.max_contains && matches > *node.max_contains)
        return fail(quiet, node, "maxContains",
                    "must contain at most " + std::to_string(*node.max_contains) +
                      " matching item(s)");
    }
    return true;
  }

  bool check_object(const schema_node &node, const json_value &value, bool quiet) {
    const std::size_t count = value.keys.size();
    if (node.min_properties && count < *node.min_properties)
      return fail(quiet, node, "minProperties",
                  "must have at least " + std::to_string(*node.min_properties) + " members");
    if (node.max_properties && count > *node.max_properties)
      return fail(quiet, node, "maxProperties",
                  "must have at most " + std::to_string(*node.max_properties) + " members");
    for (const std::string &name : node.required) {
      if (find_member(value, name)) continue;
      descend step(*this, pointer_token(name));
      return fail(quiet, node, "required", "required");
    }
    for (const auto &[name, needed] : node.dependent_required) {
      if (!find_member(value, name)) continue;
      for (const std::string &other : needed) {
        if (find_member(value, other)) continue;
        descend step(*this, pointer_token(other));
        return fail(quiet, node, "dependentRequired", "required when \"" + name + "\" is present");
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::string &name = value.keys[i];
      const json_value &member = value.items[i];
      const std::string token = pointer_token(name);
      if (node.property_names != no_schema) {
        json_value name_value;
        name_value.type = json_value::kind::string;
        name_value.text = name;
        if (!check_at(node.property_names, name_value, quiet, token)) return false;
      }
      bool claimed = false;
      auto property = std::lower_bound(node.properties.begin(), node.properties.end(), name,
                                       [](const std::pair<std::string, schema_index> &entry,
                                          const std::string &key) { return entry.first < key; });
      if (property != node.properties.end() && property->first == name) {
        claimed = true;
        if (!check_at(property->second, member, quiet, token)) return false;
      }
      for (const auto &[pattern, schema] : node.pattern_properties) {
        bool matched = false;
        if (!check_pattern(node, name, "patternProperties", pattern, quiet, matched)) return false;
        if (!matched) continue;
        claimed = true;
        if (!check_at(schema, member, quiet, token)) return false;
      }
      if (claimed || node.additional_properties == no_schema) continue;
      const schema_node &additional = schema_.nodes[node.additional_properties];
      if (additional.is_boolean && !additional.boolean_value) {
        descend step(*this, token);
        return fail(quiet, node, "additionalProperties", "unknown member");
      }
      if (!check_at(node.additional_properties, member, quiet, token)) return false;
    }
    for (const auto &[name, schema] : node.dependent_schemas)
      if (find_member(value, name) && !check(schema, value, quiet)) return false;
    return true;
  }

  bool check_combinators(const schema_node &node, const json_value &value, bool quiet) {
    for (schema_index sub : node.all_of)
      if (!check(sub, value, quiet)) return false;
    if (!node.any_of.empty()) {
      bool any = false;
      for (schema_index sub : node.any_of) {
        any = check(sub, value, true);
        if (aborted_) return false;
        if (any) break;
      }
      if (!any) return fail(quiet, node, "anyOf", "matches none of the schemas in anyOf");
    }
    if (!node.one_of.empty()) {
      std::size_t first = 0, matches = 0;
      for (std::size_t i = 0; i < node.one_of.size(); ++i) {
        bool ok = check(node.one_of[i], value, true);
        if (aborted_) return false;
        if (!ok) continue;
        if (++matches == 2)
          return fail(quiet, node, "oneOf",
                      "matches more than one schema in oneOf (" + std::to_string(first) + " and " +
                        std::to_string(i) + ")");
        first = i;
      }
      if (matches == 0) return fail(quiet, node, "oneOf", "matches none of the schemas in oneOf");
    }
    if (node.not_schema != no_schema) {
      bool matched = check(node.not_schema, value, true);
      if (aborted_) return false;
      if (matched) return fail(quiet, node, "not", "must not match the schema in not");
    }
    if (node.if_schema != no_schema) {
      bool condition = check(node.if_schema, value, true);
      if (aborted_) return false;
      schema_index branch = condition ? node.then_schema : node.else_schema;
      if (branch != no_schema && !check(branch, value, quiet)) return false;
    }
    return true;
  }

  const json_schema::compiled &schema_;
  json_schema_violation &out_;
  std::vector<std::string> path_; // escaped pointer tokens of the value being checked
  std::uint32_t steps_ = 0;
  std::size_t depth_ = 0;
  bool aborted_ = false;
};

} // namespace

json_schema::json_schema(std::unique_ptr<compiled> body) noexcept : body_(std::move(body)) {}
json_schema::~json_schema() = default;

std::size_t json_schema::subschema_count() const noexcept { return body_->nodes.size(); }

json_schema_compiled compile_json_schema(std::string_view schema_json) {
  json_schema_compiled result;
  if (schema_json.size() > limits::json_schema_bytes_max) {
    result.error = json_schema_error::too_large;
    result.detail =
      "schema larger than " + std::to_string(limits::json_schema_bytes_max) + " bytes";
    return result;
  }
  json_value root;
  if (canonical_json_error error = parse_json(schema_json, root);
      error != canonical_json_error::none) {
    result.error = json_schema_error::invalid_json;
    result.detail = std::string(describe(error));
    return result;
  }
  auto body = std::make_unique<json_schema::compiled>();
  schema_compiler compiler(*body, result);
  if (!compiler.compile_document(root)) {
    STEWARD_DEBUG_ASSERT(result.error != json_schema_error::none);
    return result;
  }
  result.schema = std::make_shared<const json_schema>(std::move(body));
  return result;
}

json_schema_violation json_schema::validate(std::string_view instance_json) const {
  json_schema_violation violation;
  json_value instance;
  if (canonical_json_error error = parse_json(instance_json, instance);
      error != canonical_json_error::none) {
    violation.failed = true;
    violation.detail = "not valid JSON: " + std::string(describe(error));
    return violation;
  }
  validator(*body_, violation).run(instance);
  return violation;
}

} // namespace steward::core
