// libFuzzer target for the request-body decoder (core/json_reader) and the canonical form
// (core/canonical_json): STYLE.md, every parser of untrusted bytes has one.
//
// Each input is decoded into a struct that declares a member of every kind the reader supports,
// and canonicalised. Invariants, beyond "no crash, no sanitizer report":
//  - canonicalising the canonical form gives it back (a fixed point);
//  - a body that decodes has a canonical form (decoding accepts nothing canonicalisation refuses,
//    for inputs shorter than limits::json_string_bytes_max);
//  - the canonical form decodes exactly when the input does, to the same values (raw_json members
//    compared by their canonical form): canonicalisation never changes what a body means, which is
//    what lets an idempotency fingerprint stand for the request;
//  - an error always carries a detail and one of the documented codes.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes a few request bodies into DIR,
// then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "core/canonical_json.hpp"
#include "core/json_reader.hpp"
#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace steward::core;

struct item {
  std::string id;
  std::int64_t quantity = 0;

  bool operator==(const item&) const = default;
};

struct money {
  std::string currency;
  std::int64_t amount = 0;

  bool operator==(const money&) const = default;
};

// One member of each kind object_reader supports.
struct body {
  std::string name;
  std::int64_t amount = 0;
  std::uint32_t count = 0;
  bool flag = false;
  std::optional<bool> dry_run;
  money price;
  std::optional<money> limit;
  std::vector<std::string> tags;
  std::vector<std::int32_t> numbers;
  std::vector<item> items;
  nullable<std::string> note;
  nullable<std::int64_t> ttl;
  nullable<money> cap;
  raw_json config;
  raw_json extra;
};

json_error decode_body(std::string_view text, body& out) {
  return decode(text, [&](object_reader& o) {
    o.optional("name", out.name, 64);
    o.optional("amount", out.amount, -1'000'000, 1'000'000);
    o.optional("count", out.count);
    o.optional("flag", out.flag);
    o.optional("dry_run", out.dry_run);
    o.optional("price", [&](object_reader& p) {
      p.required("currency", out.price.currency, 3);
      p.optional("amount", out.price.amount, 0, 1'000'000'000);
    });
    o.optional("limit", out.limit, [](object_reader& p, money& m) {
      p.required("currency", m.currency, 3);
      p.required("amount", m.amount);
    });
    o.optional("tags", out.tags, 8, 32);
    o.optional("numbers", out.numbers, 16);
    o.optional("items", out.items, 4, [](object_reader& i, item& it) {
      i.required("id", it.id, 16);
      i.optional("quantity", it.quantity, 1, 100);
    });
    o.optional("note", out.note, 100);
    o.optional("ttl", out.ttl, 0, 86'400);
    o.optional("cap", out.cap, [](object_reader& p, money& m) {
      p.required("currency", m.currency, 3);
      p.optional("amount", m.amount);
    });
    o.optional("config", out.config);
    o.required("extra", out.extra);
  });
}

std::string canonical_or_empty(const raw_json& raw) {
  if (raw.text.empty()) return {};
  canonical_json result = canonicalize_json(raw.text);
  STEWARD_ASSERT(result && "a raw_json value the reader produced has no canonical form");
  return result.text;
}

bool same_meaning(const body& a, const body& b) {
  return a.name == b.name && a.amount == b.amount && a.count == b.count && a.flag == b.flag &&
         a.dry_run == b.dry_run && a.price == b.price && a.limit == b.limit && a.tags == b.tags &&
         a.numbers == b.numbers && a.items == b.items && a.note.present == b.note.present &&
         a.note.value == b.note.value && a.ttl.present == b.ttl.present &&
         a.ttl.value == b.ttl.value && a.cap.present == b.cap.present &&
         a.cap.value == b.cap.value &&
         canonical_or_empty(a.config) == canonical_or_empty(b.config) &&
         canonical_or_empty(a.extra) == canonical_or_empty(b.extra);
}

void check_error(const json_error& error) {
  if (!error) return;
  STEWARD_ASSERT(!error.detail.empty());
  STEWARD_ASSERT(error.code == api_error::invalid_json || error.code == api_error::unknown_field ||
                 error.code == api_error::invalid_field ||
                 error.code == api_error::payload_too_large);
  STEWARD_ASSERT(error.pointer.empty() || error.pointer.front() == '/');
}

void run(std::string_view input) {
  body decoded;
  const json_error error = decode_body(input, decoded);
  check_error(error);

  const canonical_json canonical = canonicalize_json(input);
  if (!canonical) {
    STEWARD_ASSERT(canonical.text.empty());
    if (input.size() < limits::json_string_bytes_max)
      STEWARD_ASSERT(error && "a body that decodes must have a canonical form");
    return;
  }
  STEWARD_ASSERT(!canonical.text.empty());

  const canonical_json again = canonicalize_json(canonical.text);
  STEWARD_ASSERT(again && again.text == canonical.text && "canonical form is not a fixed point");

  body decoded_canonical;
  const json_error canonical_error = decode_body(canonical.text, decoded_canonical);
  check_error(canonical_error);
  STEWARD_ASSERT(static_cast<bool>(error) == static_cast<bool>(canonical_error) &&
                 "canonicalisation changed whether the body decodes");
  if (!error)
    STEWARD_ASSERT(same_meaning(decoded, decoded_canonical) &&
                   "canonicalisation changed what the body means");
}

// Request bodies in the shapes the decoder declares, plus canonical-form corner cases.
constexpr std::string_view seeds[] = {
  R"({"extra":null})",
  R"({"name":"demo","amount":-12,"count":3,"flag":true,"dry_run":false,"extra":{"b":1,"a":[true,null]}})",
  R"({"price":{"currency":"usd","amount":1299},"limit":{"currency":"eur","amount":5},"extra":0})",
  R"({"tags":["a","b\u00e9"],"numbers":[1,-2,3],"items":[{"id":"x","quantity":2},{"id":"y"}],"extra":[]})",
  R"({"note":null,"ttl":3600,"cap":{"currency":"usd"},"extra":"\ud83d\ude00"})",
  R"({"config":{"region":"eu","size":1.50e3,"nested":{"z":[{"y":-0}],"\u0000":"\n"}},"extra":1e999})",
  R"( { "extra" : { "k" : "v" } , "name" : "\"\\\/\b\f\n\r\t" } )",
  R"({"extra":1,"extra":2})",
  R"({"unknown":1,"extra":2})",
  R"([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])",
};

void write_seeds(const char* directory) {
  std::filesystem::create_directories(directory);
  std::size_t index = 0;
  for (std::string_view seed : seeds) {
    auto path = std::filesystem::path(directory) / ("seed-" + std::to_string(index++) + ".json");
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr || std::fwrite(seed.data(), 1, seed.size(), file) != seed.size()) {
      std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
      std::exit(1);
    }
    std::fclose(file);
  }
  std::printf("wrote %zu seeds to %s\n", std::size(seeds), directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS")) write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
