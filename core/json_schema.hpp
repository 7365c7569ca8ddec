#pragma once

// JSON Schema for provider catalogs: a service's `configuration_schema` (DESIGN 5) is compiled once
// when the catalog is read, and every `config` of a `POST /v1/resources` is checked against it
// before anything is sent to the provider (DESIGN 4.5: 422 `config_invalid`).
//
//     json_schema_compiled compiled = compile_json_schema(service.configuration_schema);
//     if (!compiled) return reject_service(compiled.error, compiled.pointer, compiled.detail);
//     ...
//     json_schema_violation violation = compiled.schema->validate(request.config.text);
//     if (violation) return problem(violation.code, violation.detail, violation.instance_pointer);
//
// Dialect: JSON Schema 2020-12 (draft-07 spellings are accepted where they mean the same thing, see
// below), for one self-contained document. Supported:
//  - Boolean schemas; `type` (one name or an array), `enum`, `const`.
//  - Numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`. Compared
//    exactly as decimals, never through a double: `9007199254740993` is greater than
//    `9007199254740992`, and `0.3` is a multiple of `0.1`. `type: integer` accepts any number whose
//    value is whole (`1.0`, `1e2`), as the specification says.
//  - Strings: `minLength`, `maxLength` (counted in Unicode code points), `pattern`.
//  - Arrays: `items`, `prefixItems`, `contains`, `minContains`, `maxContains`, `minItems`,
//    `maxItems`, `uniqueItems`. Draft-07's array form of `items` and `additionalItems` mean
//    `prefixItems` and `items`.
//  - Objects: `properties`, `patternProperties`, `additionalProperties`, `propertyNames`,
//    `required`, `minProperties`, `maxProperties`, `dependentRequired`, `dependentSchemas`, and
//    draft-07's `dependencies` (either form).
//  - `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`.
//  - `$ref` to a JSON Pointer fragment of the same document (`#`, `#/$defs/name`,
//    `#/definitions/name`, `#/properties/a`), next to other keywords as in 2020-12.
//  - Annotations are ignored: `title`, `description`, `default`, `examples`, `format` (an annotation
//    in 2020-12 unless a format-assertion vocabulary is in force), `readOnly`, and the like.
//    Unknown keywords are ignored as the specification requires (vendor `x-…` keywords are common).
//
// Rejected at compile time with `unsupported`, so that a standard assertion is never silently left
// unchecked: `$dynamicRef`, `$dynamicAnchor`, `$recursiveRef`, `$recursiveAnchor`,
// `unevaluatedProperties`, `unevaluatedItems`, `$id` below the root, a `$ref` to another document
// or to an `$anchor` name, draft-04's boolean `exclusiveMinimum`/`exclusiveMaximum`, and patterns
// that use back-references or look-around.
//
// Patterns are ECMAScript regular expressions run by std::regex in libstdc++'s polynomial (NFA
// simulation) mode, as one anchored match of `[\s\S]*(?:pattern)[\s\S]*`: time is linear in the
// string's length, whatever the pattern, so a provider's `(a+)+b` cannot stall a worker. They match
// bytes of UTF-8, not code points: `.` matches one byte, and `^.{3}$` does not match "héé". Patterns
// are bounded in bytes and in the size of their expansion (`a{1000}` counts 1000), and a string is
// only matched up to `limits::json_schema_pattern_subject_bytes_max` bytes; a longer one fails
// `pattern` (it cannot be checked, so it is not accepted).
//
// Bounds (core/limits.hpp): schema text bytes, compiled subschemas, patterns, and evaluation work
// per validation. A `$ref` loop that reaches the same subschema again without descending into the
// instance (`{"$ref": "#"}`, `{"anyOf": [{"$ref": "#"}]}`) would never finish, and is refused at
// compile time with `reference_cycle`.
//
// Both texts must be exactly one well-formed JSON value within the limits of core/json_reader
// (depth, string bytes), with no duplicate member names. A compiled schema is immutable: share it
// between threads through the `shared_ptr<const json_schema>`; `validate` is const and reentrant.
// Nothing throws.

#include "core/api_error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace steward::core {

/// Why a text is not a usable schema. `none` means success.
enum class json_schema_error : std::uint8_t {
  none,
  invalid_json,    ///< not one well-formed JSON value within the JSON limits (depth, duplicates)
  not_a_schema,    ///< not an object or boolean, or a keyword's value has the wrong type or range
  unsupported,     ///< a standard keyword or pattern feature that this validator does not enforce
  bad_reference,   ///< a `$ref` that is not a local JSON Pointer to a subschema
  reference_cycle, ///< a `$ref` loop that never descends into the instance
  too_large,       ///< over a `limits::json_schema_*` bound
};

/// A short human description of `error`.
std::string_view describe(json_schema_error error) noexcept;

class json_schema;

/// The result of `compile_json_schema`: the schema, or why there is none.
struct json_schema_compiled {
  std::shared_ptr<const json_schema> schema; ///< set exactly when `error` is `none`
  json_schema_error error = json_schema_error::none;
  std::string pointer; ///< RFC 6901 pointer into the schema text at the offending keyword
  std::string detail;  ///< short and human, e.g. "minLength must be a non-negative integer"

  explicit operator bool() const noexcept { return error == json_schema_error::none; }
};

/// Why an instance does not satisfy a schema. Empty (`!violation`) when it does. Only the first
/// violation found is reported, like core/json_reader's errors.
struct json_schema_violation {
  api_error code = api_error::config_invalid; ///< always config_invalid
  std::string instance_pointer; ///< RFC 6901 pointer into the instance ("" is the whole value)
  std::string schema_pointer;   ///< RFC 6901 pointer into the schema at the failing keyword
  std::string detail;           ///< short and human, e.g. "must be at most 63 characters"
  bool failed = false;

  explicit operator bool() const noexcept { return failed; }
};

/// Compiles `schema_json` (a JSON object or boolean). See the file comment for the dialect.
[[nodiscard]] json_schema_compiled compile_json_schema(std::string_view schema_json);

/// A compiled schema. Only `compile_json_schema` makes one.
class json_schema {
public:
  struct compiled; // the subschemas, patterns and constants; defined in json_schema.cpp

  explicit json_schema(std::unique_ptr<compiled> body) noexcept;
  ~json_schema();
  json_schema(const json_schema &) = delete;
  json_schema &operator=(const json_schema &) = delete;

  /// Checks `instance_json`, one JSON value. Text that is not JSON, or is over the JSON limits,
  /// is a violation at the empty pointer. Evaluation that would take more than
  /// `limits::json_schema_steps_max` steps is a violation too ("too complex to check"), so every
  /// call has a bounded cost.
  [[nodiscard]] json_schema_violation validate(std::string_view instance_json) const;

  /// Compiled subschemas, boolean ones included (for tests and metrics).
  std::size_t subschema_count() const noexcept;

private:
  std::unique_ptr<compiled> body_;
};

} // namespace steward::core
