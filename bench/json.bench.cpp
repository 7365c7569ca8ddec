// Micro-benchmarks of the JSON hot path: decoding request bodies into typed structs the way a
// handler does (padded body from the HTTP layer, thread-local parser), and writing the common
// response and error bodies into a reused buffer. Items are bodies; bytes are the body's size, so
// the figures read as requests/s and MB/s per core.

#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace steward::core;

// --- Request types, decoded as the handlers will ---------------------------------------------------

struct money {
  std::int64_t amount = 0;
  std::string currency;
};

struct session_create {
  std::optional<money> run_budget;
  std::int64_t ttl_seconds = 3600;
  std::vector<std::string> domains;
  std::optional<std::string> label;
};

json_error decode_session_create(std::string_view body, session_create& out) {
  return decode(body, padding_readable, [&](object_reader& o) {
    o.optional("run_budget", out.run_budget, [](object_reader& m, money& v) {
      m.required("amount", v.amount, 0, 1'000'000'000);
      m.required("currency", v.currency, 3);
    });
    o.optional("ttl_seconds", out.ttl_seconds, 1, 86400);
    o.optional("intents", [&](object_reader& i) { i.optional("domains", out.domains, 64, 253); });
    o.optional("label", out.label, 200);
  });
}

struct usage {
  std::int64_t quantity = 0;
  std::string unit;
};

struct charge_create {
  std::string payment_token;
  std::int64_t amount = 0;
  std::string currency;
  std::string description;
  std::optional<std::string> resource;
  std::optional<usage> usage_record;
};

// The declarations of a charge body, writing into `out`.
auto charge_members(charge_create& out) {
  return [&out](object_reader& o) {
    o.required("payment_token", out.payment_token, 64);
    o.required("amount", out.amount, 1, 100'000'000);
    o.required("currency", out.currency, 3);
    o.required("description", out.description, 500);
    o.optional("resource", out.resource, 64);
    o.optional("usage", out.usage_record, [](object_reader& u, usage& v) {
      u.required("quantity", v.quantity, 0);
      u.required("unit", v.unit, 16);
    });
  };
}

// A body as the HTTP layer hands it over: followed by simdjson's padding.
struct padded_body {
  explicit padded_body(std::string json) : size(json.size()), storage(std::move(json)) {
    storage.append(json_padding_bytes, '\0');
  }
  std::string_view view() const { return {storage.data(), size}; }
  std::size_t size;
  std::string storage;
};

const padded_body session_body(
  R"({"run_budget": {"amount": 5000, "currency": "usd"}, "ttl_seconds": 7200,)"
  R"( "intents": {"domains": ["superseal.club", "superseal-staging.club", "api.superseal.club",)"
  R"( "status.superseal.club"]}, "label": "deploy bot for project alpha (run 42), triggered by)"
  R"( the nightly pipeline on main"})");

const padded_body charge_body(
  R"({"payment_token":"ptk_3f9a8c7e6d5b4a39","amount":1299,"currency":"usd",)"
  R"("description":"metered usage for March: egress and storage","usage":{"quantity":3,"unit":"GB"}})");

void report(benchmark::State& state, std::size_t bytes_per_item) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_item));
  state.counters["body_bytes"] = static_cast<double>(bytes_per_item);
}

void decode_session_create_body(benchmark::State& state) {
  for (auto _ : state) {
    session_create out;
    json_error error = decode_session_create(session_body.view(), out);
    if (error) state.SkipWithError(error.detail.c_str());
    benchmark::DoNotOptimize(out);
  }
  report(state, session_body.size);
}
BENCHMARK(decode_session_create_body);

void decode_charge_body(benchmark::State& state) {
  for (auto _ : state) {
    charge_create out;
    json_error error = decode(charge_body.view(), padding_readable, charge_members(out));
    if (error) state.SkipWithError(error.detail.c_str());
    benchmark::DoNotOptimize(out);
  }
  report(state, charge_body.size);
}
BENCHMARK(decode_charge_body);

// The entry point for bodies without the padding promise: adds one copy and one allocation.
void decode_charge_body_copied(benchmark::State& state) {
  const std::string body(charge_body.view());
  for (auto _ : state) {
    charge_create out;
    json_error error = decode(body, charge_members(out));
    if (error) state.SkipWithError(error.detail.c_str());
    benchmark::DoNotOptimize(out);
  }
  report(state, body.size());
}
BENCHMARK(decode_charge_body_copied);

// A rejected body: the error path builds a pointer and a detail string.
void decode_unknown_field(benchmark::State& state) {
  const padded_body body(R"({"payment_token":"ptk_3f9a8c7e6d5b4a39","amount":1299,"currency":"usd",)"
                         R"("description":"d","amout":5})");
  for (auto _ : state) {
    charge_create out;
    json_error error = decode(body.view(), padding_readable, charge_members(out));
    benchmark::DoNotOptimize(error);
  }
  report(state, body.size);
}
BENCHMARK(decode_unknown_field);

// --- Responses -----------------------------------------------------------------------------------

void encode_charge_response(benchmark::State& state) {
  std::string out; // reused, as a connection reuses its output buffer
  for (auto _ : state) {
    out.clear();
    json_writer w(out);
    w.begin_object()
      .member("id", "chg_7d2c4b9a1e3f5a60")
      .member("object", "charge")
      .member("status", "succeeded")
      .member("amount", 1299)
      .member("currency", "usd")
      .member("description", "metered usage for March: egress and storage")
      .member("payment_token", "ptk_3f9a8c7e6d5b4a39")
      .member("provider", "cloudflare")
      .member("resource", "res_0a1b2c3d4e5f")
      .key("usage")
      .begin_object()
      .member("quantity", 3)
      .member("unit", "GB")
      .end_object()
      .member("refunded", 0)
      .member("created", 1'732'800'000)
      .end_object();
    benchmark::DoNotOptimize(out.data());
  }
  report(state, out.size());
}
BENCHMARK(encode_charge_response);

void encode_problem(benchmark::State& state) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string body = problem(api_error::budget_exceeded,
                               "the session's run budget has 120 usd left, the charge is 1299")
                         .member("scope", "session")
                         .body();
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  report(state, bytes);
}
BENCHMARK(encode_problem);

// String escaping alone, on 1 KiB of plain ASCII (the word-at-a-time path) and of mixed text with
// multi-byte UTF-8 and a few escapes (validation on every non-ASCII sequence).
void escape_string(benchmark::State& state, std::string text) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_json_string(out, text);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, text.size());
}

std::string repeat_to_kib(std::string_view unit) {
  std::string text;
  while (text.size() < 1024) text += unit;
  return text;
}

BENCHMARK_CAPTURE(escape_string, ascii_1k, repeat_to_kib("metered usage for March, egress "));
BENCHMARK_CAPTURE(escape_string, mixed_utf8_1k,
                  repeat_to_kib("Rechnung f\xc3\xbcr M\xc3\xa4rz \xe2\x82\xac 12 \"ok\"\n "));

} // namespace
