// libFuzzer target for the JSON Schema validator (core/json_schema.cpp): providers' catalogs bring
// the schemas and clients the `config` values checked against them, so both texts are untrusted;
// STYLE.md, every parser of untrusted bytes has one.
//
// The first byte picks what the rest of the input is (its value modulo 3):
//  0. a schema: compiled, then a few fixed instances of every JSON type are validated against it;
//  1. a `config` instance, validated against a fixed, realistic provider schema that uses most
//     keywords (a registrar's domain purchase, after core/json_schema.test.cpp);
//  2. a schema and an instance, separated by the first 0xFF byte (never part of valid UTF-8, so
//     never of a JSON text); without one the instance is empty.
// Invariants, beyond "no crash, no sanitizer report, no timeout" (the step budget and the linear
// pattern matcher bound every validation by design, so a slow input is a finding too):
//  - compiling gives a schema exactly when there is no error; an error has a description and a
//    detail, and a pointer that is empty or starts with `/`; a schema has between 1 and
//    limits::json_schema_subschemas_max subschemas;
//  - a violation is `config_invalid` with a detail and pointers that are empty or start with `/`;
//    no violation has no detail; validating again gives the same answer (validation is pure);
//  - `{"not": S}` accepts exactly what S refuses, unless the instance is not JSON or either hit an
//    evaluation limit (the wrapper adds a level and a step). Only checked for schemas without
//    `$ref` (wrapping moves every pointer) that still compile when wrapped (`$id` must be at the
//    root, and the wrapper adds a subschema and a level of depth), and then the wrapper has
//    exactly one subschema more;
//  - against the fixed schema, a JSON instance is refused only at a keyword under its `$defs`.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes schemas and instances from the
// unit tests into DIR, then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "core/canonical_json.hpp"
#include "core/json_schema.hpp"
#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace steward::core;

// The realistic schema's keywords, under `$defs` so that the same definitions can be referred to
// from a root that applies them and from one that negates them.
constexpr std::string_view definitions = R"("$defs": {
  "config": {
    "type": "object",
    "properties": {
      "domain": {"type": "string", "minLength": 4, "maxLength": 253,
                 "pattern": "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$"},
      "years": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
      "price": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1e6,
                "multipleOf": 0.01},
      "auto_renew": {"type": "boolean"},
      "transfer_code": {"type": "string", "minLength": 6, "maxLength": 64},
      "contacts": {"type": "array", "items": {"$ref": "#/$defs/contact"}, "maxItems": 4,
                   "uniqueItems": true,
                   "contains": {"required": ["role"], "properties": {"role": {"const": "admin"}}},
                   "maxContains": 1},
      "nameservers": {"type": "array", "minItems": 2, "maxItems": 13,
                      "prefixItems": [{"type": "string"}, {"type": "string"}],
                      "items": {"type": "string", "format": "hostname", "pattern": "\\.$"}},
      "privacy": {"enum": ["off", "redact", "proxy", null]},
      "labels": {"type": "object", "maxProperties": 16,
                 "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$", "maxLength": 63},
                 "patternProperties": {"^x_": {"type": "string"}},
                 "additionalProperties": {"type": ["string", "number", "boolean"]}},
      "region": {"oneOf": [{"const": "eu"}, {"const": "us"}, {"type": "string", "pattern": "^ap-"}]},
      "size": {"anyOf": [{"type": "integer", "minimum": 1}, {"enum": ["small", "large"]}]},
      "backup": {"type": "object",
                 "properties": {"enabled": {"type": "boolean"}, "window": {"type": "string"}},
                 "dependentRequired": {"window": ["enabled"]},
                 "if": {"properties": {"enabled": {"const": true}}, "required": ["enabled"]},
                 "then": {"required": ["window"]},
                 "else": {"not": {"required": ["window"]}}}
    },
    "required": ["domain"],
    "additionalProperties": false,
    "dependentSchemas": {"transfer_code": {"required": ["years"]}}
  },
  "contact": {"type": "object", "required": ["email"],
              "properties": {"email": {"type": "string", "format": "email", "maxLength": 254},
                             "role": {"const": "admin"},
                             "phone": {"type": "string", "pattern": "^\\+[0-9]{6,15}$"}}}
})";

struct fixture {
  std::shared_ptr<const json_schema> config;     // {"$ref": "#/$defs/config", "$defs": ...}
  std::shared_ptr<const json_schema> not_config; // {"not": {"$ref": "#/$defs/config"}, ...}

  static std::shared_ptr<const json_schema> compile(std::string_view root) {
    json_schema_compiled result =
      compile_json_schema("{" + std::string(root) + ", " + std::string(definitions) + "}");
    if (!result) {
      std::fprintf(stderr, "fixed schema does not compile at '%s': %s\n", result.pointer.c_str(),
                   result.detail.c_str());
      std::abort();
    }
    return result.schema;
  }

  fixture()
    : config(compile(R"("$ref": "#/$defs/config")")),
      not_config(compile(R"("not": {"$ref": "#/$defs/config"})")) {}
};

const fixture& fixed() {
  static const fixture instance;
  return instance;
}

// Instances of every JSON type, validated against each fuzzed schema.
constexpr std::string_view fixed_instances[] = {
  "null",
  "true",
  "0",
  "-12.50e1",
  "\"\"",
  R"("superseal.club")",
  "[]",
  R"([1, "a", [null], {"k": 1.0}, 1])",
  "{}",
  R"({"a": 1, "b": [true, "x"], "c": {"d": null}, "x-e": "f"})",
};

bool is_pointer(std::string_view pointer) { return pointer.empty() || pointer.front() == '/'; }

void check_violation(const json_schema_violation& violation) {
  if (!violation) {
    STEWARD_ASSERT(violation.detail.empty() && violation.instance_pointer.empty() &&
                   violation.schema_pointer.empty());
    return;
  }
  STEWARD_ASSERT(violation.code == api_error::config_invalid);
  STEWARD_ASSERT(!violation.detail.empty());
  STEWARD_ASSERT(is_pointer(violation.instance_pointer) && is_pointer(violation.schema_pointer));
}

bool same(const json_schema_violation& a, const json_schema_violation& b) {
  return a.failed == b.failed && a.code == b.code && a.instance_pointer == b.instance_pointer &&
         a.schema_pointer == b.schema_pointer && a.detail == b.detail;
}

/// A violation whose answer says nothing about the instance: the text is not JSON, or an
/// evaluation bound (steps, depth) stopped the check.
bool is_undecided(const json_schema_violation& violation) {
  return violation &&
         (violation.detail.starts_with("not valid JSON") ||
          violation.detail.find("too complex") != std::string::npos ||
          violation.detail.find("too deeply") != std::string::npos);
}

json_schema_violation validate(const json_schema& schema, std::string_view instance) {
  json_schema_violation violation = schema.validate(instance);
  check_violation(violation);
  STEWARD_ASSERT(same(violation, schema.validate(instance)) && "validation is not deterministic");
  return violation;
}

/// Compiles `text`, checking what any outcome must satisfy.
json_schema_compiled compile(std::string_view text) {
  json_schema_compiled result = compile_json_schema(text);
  STEWARD_ASSERT(!describe(result.error).empty());
  STEWARD_ASSERT(static_cast<bool>(result) == (result.schema != nullptr));
  if (text.size() > limits::json_schema_bytes_max)
    STEWARD_ASSERT(result.error == json_schema_error::too_large);
  if (result) {
    STEWARD_ASSERT(result.pointer.empty() && result.detail.empty());
    STEWARD_ASSERT(result.schema->subschema_count() >= 1 &&
                   result.schema->subschema_count() <= limits::json_schema_subschemas_max);
  } else {
    STEWARD_ASSERT(!result.detail.empty() && is_pointer(result.pointer));
  }
  return result;
}

/// `{"not": schema}`, when its meaning is the negation of `schema`'s (see the file comment).
std::shared_ptr<const json_schema> negation_of(std::string_view text, const json_schema& schema) {
  // The canonical form spells every name without escapes, so a `$ref` cannot hide in it.
  const canonical_json canonical = canonicalize_json(text);
  STEWARD_ASSERT(canonical && "a schema that compiled has no canonical form");
  if (canonical.text.find("$ref") != std::string::npos) return nullptr;
  const json_schema_compiled wrapped = compile("{\"not\": " + std::string(text) + "}");
  if (!wrapped) return nullptr;
  STEWARD_ASSERT(wrapped.schema->subschema_count() == schema.subschema_count() + 1);
  return wrapped.schema;
}

void check_instance(const json_schema& schema, const json_schema* negation,
                    std::string_view instance) {
  const json_schema_violation violation = validate(schema, instance);
  if (negation == nullptr) return;
  const json_schema_violation negated = validate(*negation, instance);
  if (is_undecided(violation) || is_undecided(negated)) return;
  STEWARD_ASSERT(static_cast<bool>(violation) != static_cast<bool>(negated) &&
                 "{\"not\": S} does not accept exactly what S refuses");
}

void run_schema(std::string_view text) {
  const json_schema_compiled compiled = compile(text);
  if (!compiled) return;
  const auto negation = negation_of(text, *compiled.schema);
  for (std::string_view instance : fixed_instances)
    check_instance(*compiled.schema, negation.get(), instance);
}

void run_config(std::string_view instance) {
  const json_schema_violation violation = validate(*fixed().config, instance);
  const json_schema_violation negated = validate(*fixed().not_config, instance);
  if (violation && !is_undecided(violation))
    STEWARD_ASSERT(violation.schema_pointer.starts_with("/$defs/") &&
                   "the fixed schema refused a value at a keyword it does not have");
  if (!is_undecided(violation) && !is_undecided(negated))
    STEWARD_ASSERT(static_cast<bool>(violation) != static_cast<bool>(negated) &&
                   "{\"not\": S} does not accept exactly what S refuses");
}

void run_schema_and_instance(std::string_view input) {
  const std::size_t split = input.find('\xff');
  const std::string_view schema_text = input.substr(0, split);
  const std::string_view instance =
    split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  const json_schema_compiled compiled = compile(schema_text);
  if (!compiled) return;
  const auto negation = negation_of(schema_text, *compiled.schema);
  check_instance(*compiled.schema, negation.get(), instance);
}

// --- Seeds ---------------------------------------------------------------------------------------

// Schemas of core/json_schema.test.cpp, for mode 0 and, with an instance after 0xFF, mode 2.
struct schema_seed {
  std::string_view schema;
  std::string_view instance;
};

constexpr schema_seed schema_seeds[] = {
  {"true", R"({"anything": [1, null]})"},
  {"false", "{}"},
  {R"({"properties": {"a": false}})", R"({"a": 1})"},
  {R"({"type": ["string", "null"]})", "false"},
  {R"({"type": "integer"})", "1e2"},
  {R"({"maximum": 9007199254740992})", "9007199254740993"},
  {R"({"minimum": 0.1, "exclusiveMaximum": 10})", "0.10000000000000000001"},
  {R"({"multipleOf": 0.1})", "0.3"},
  {R"({"multipleOf": 1.000000000000000000000000000000000000001})", "3"},
  {R"({"maxLength": 3, "minLength": 1.0})", R"("h\u00e9\u00e9")"},
  {R"({"pattern": "^\\d{4}-\\d{2}-\\d{2}$"})", R"("2026-11-29")"},
  {R"({"pattern": "(a+)+b"})", R"("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")"},
  {R"({"pattern": "(ab){128}"})", R"("abab")"},
  {R"({"items": {"pattern": "[a-z]{1,250}x"}})", R"(["aaaaaaaaaaaaaax", "x"])"},
  {R"j({"pattern": "a(?=b)"})j", R"("ab")"},
  {R"({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false})",
   R"(["a", 1, 2])"},
  {R"({"items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false})",
   R"(["a", 1])"},
  {R"({"uniqueItems": true})", R"([[1, {"x": null}], [1.0, {"x": null}]])"},
  {R"({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3})", R"([1, "a", 2])"},
  {R"({"enum": [1, "a", null, {"k": [true]}], "const": {"k": [true]}})", R"({"k": [true]})"},
  {R"({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 2})",
   R"({"x-note": "hi", "count": 3})"},
  {R"({"propertyNames": {"maxLength": 3}, "properties": {"a/b~c": {"type": "string"}}})",
   R"({"a/b~c": 1})"},
  {R"({"dependencies": {"a": ["b"], "c": {"properties": {"d": {"type": "integer"}}}}, "dependentRequired": {"card": ["billing_zip"]}, "dependentSchemas": {"region": {"required": ["zone"]}}})",
   R"({"c": 1, "d": "x", "card": 2})"},
  {R"({"allOf": [{"minimum": 1}, {"maximum": 3}], "anyOf": [{"type": "string"}, {"minimum": 2}], "oneOf": [{"multipleOf": 3}, {"multipleOf": 5}], "not": {"type": "null"}})",
   "15"},
  {R"({"if": {"properties": {"plan": {"const": "pro"}}, "required": ["plan"]}, "then": {"required": ["seats"]}, "else": {"not": {"required": ["seats"]}}})",
   R"({"plan": "free", "seats": 3})"},
  {R"({"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"})",
   R"({"value": 1, "children": [{"value": "2"}]})"},
  {R"({"$defs": {"a b": {"type": "string"}, "c/d": {"minimum": 3}}, "properties": {"x": {"$ref": "#/$defs/a%20b"}, "y": {"$ref": "#/$defs/c~1d"}}})",
   R"({"y": 2})"},
  {R"({"type": "array", "items": {"$ref": "#"}})", "[[[]], []]"},
  {R"({"anyOf": [{"type": "string"}, {"$ref": "#"}]})", "1"},
  {R"({"$ref": "#anchor", "$defs": {"a": {"$anchor": "anchor"}}})", "1"},
  {R"({"$id": "https://provider.example/config", "title": "t", "default": 1, "format": "email", "x-ui-widget": "slider"})",
   R"("not an email")"},
  {R"({"unevaluatedProperties": false, "exclusiveMinimum": true})", "{}"},
  {R"({"enum": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
   "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"},
};

// Configs for the fixed schema (mode 1).
constexpr std::string_view config_seeds[] = {
  R"({"domain": "superseal.club"})",
  R"({"domain": "superseal.club", "years": 2, "auto_renew": true, "privacy": "redact",
      "contacts": [{"email": "a@b.c", "role": "admin"}, {"email": "d@e.f", "phone": "+4930123456"}]})",
  R"({"domain": "Superseal.club", "years": 1.5, "price": 12.999})",
  R"({"domain": "superseal.club", "transfer_code": "abc123", "years": 3, "price": 19.99,
      "nameservers": ["ns1.example.", "ns2.example.", "ns3.example."], "region": "ap-south",
      "size": "small", "labels": {"team": "core", "x_note": "hi", "cost": 3},
      "backup": {"enabled": true, "window": "02:00"}})",
  R"({"domain": "superseal.club", "backup": {"enabled": false, "window": "02:00"},
      "labels": {"Bad": 1}, "size": 0, "region": "eu"})",
  R"({"domian": "superseal.club", "privacy": null})",
  "[]",
  "{",
};

void write_seed(const std::filesystem::path& path, char selector, std::string_view first,
                std::string_view second = {}, bool separate = false) {
  std::string bytes(1, selector);
  bytes += first;
  if (separate) bytes.append(1, '\xff').append(second);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(file);
}

void write_seeds(const char* directory) {
  const std::filesystem::path dir(directory);
  std::filesystem::create_directories(dir);
  std::size_t count = 0;
  auto name = [&](std::string_view kind) {
    return dir / (std::string(kind) + "-" + std::to_string(count++) + ".json");
  };
  for (const schema_seed& seed : schema_seeds) {
    write_seed(name("schema"), '\0', seed.schema);
    write_seed(name("pair"), '\2', seed.schema, seed.instance, true);
  }
  for (std::string_view config : config_seeds) write_seed(name("config"), '\1', config);
  std::printf("wrote %zu seeds to %s\n", count, directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixed(); // compiled once, before the first input
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS")) write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
  case 0: run_schema(input); break;
  case 1: run_config(input); break;
  case 2: run_schema_and_instance(input); break;
  }
  return 0;
}
