// Micro-benchmarks of the per-request crypto on the charge path: checking a provider's
// `Steward-Signature` (HMAC-SHA256 over timestamp, method, path, key and body; core/hmac_signature)
// and minting an id from OpenSSL's CSPRNG (core/ids). Both run once per charge on an io thread.

#include "core/hmac_signature.hpp"
#include "core/ids.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace {

using namespace steward::core;

constexpr std::int64_t now = 1715342400;

void BM_VerifyProviderSignature(benchmark::State& bench) {
  const std::string secret(32, 's');
  const std::string body =
    R"({"payment_token":"ptk_0000000000000000000001","amount":{"amount":125,"currency":"usd"},)"
    R"("description":"metered usage, 5 minutes of a small instance, region eu-west"})";
  const signed_request request{"POST", "/v1/provider/charges", "charge-key-000000001", body};
  const std::string header = sign(secret, now, request);
  for (auto _ : bench)
    benchmark::DoNotOptimize(verify(secret, header, now, request));
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_VerifyProviderSignature);

void BM_MakeId(benchmark::State& bench) {
  openssl_random random;
  for (auto _ : bench)
    benchmark::DoNotOptimize(make_id(id_kind::charge, random));
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_MakeId);

// Every id in a request is checked (`is_valid`) before it is used as a key.
void BM_CheckId(benchmark::State& bench) {
  openssl_random random;
  const std::string id = *make_id_at(id_kind::charge, random, 1'764'460'800'000);
  for (auto _ : bench)
    benchmark::DoNotOptimize(is_valid(id_kind::charge, id));
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_CheckId);

} // namespace
