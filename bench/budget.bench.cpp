// Micro-benchmarks of the money hot path inside a user actor (core/ledger.hpp): deciding a charge
// against a realistically populated ledger (10 providers, 5 sessions, 50 payment tokens, a global
// cap, some open holds), applying the accepted event, and encoding it for the journal. Items are
// operations, so the figures read as operations per second per core.

#include "core/ids.hpp"
#include "core/ledger.hpp"
#include "core/velocity.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace steward::core;

constexpr std::int64_t now = 1715342400; // 2024-05-10T12:00:00Z

std::string bench_id(id_kind kind, std::uint64_t n) {
  id_bits bits{};
  for (int i = 0; i < 8; ++i) bits[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  return format_id(kind, bits);
}

void must_apply(ledger_state& state, decision d) {
  if (auto* a = std::get_if<accepted>(&d)) apply_event(state, a->event);
}

struct populated_ledger {
  ledger_state state;
  std::vector<std::string> providers;
  std::vector<std::string> tokens;

  populated_ledger() {
    std::uint64_t n = 0;
    must_apply(state, decide_set_cap(state, {cap_kind::global, "", money{1'000'000'000, currency::usd}},
                                     now));
    std::vector<std::string> sessions;
    for (int i = 0; i < 10; ++i) {
      providers.push_back("provider-" + std::to_string(i));
      must_apply(state, decide_set_cap(state, {cap_kind::provider, providers.back(),
                                               money{100'000'000, currency::usd}},
                                       now));
    }
    for (int i = 0; i < 5; ++i) {
      sessions.push_back(bench_id(id_kind::session, ++n));
      must_apply(state, decide_open_session(
                          state, {sessions.back(), money{100'000'000, currency::usd}, now + 86400},
                          now));
    }
    for (int i = 0; i < 50; ++i) {
      tokens.push_back(bench_id(id_kind::payment_token, ++n));
      must_apply(state, decide_create_token(state,
                                            {tokens.back(), providers[i % 10], sessions[i % 5],
                                             money{100'000'000, currency::usd}, now + 86400, false},
                                            now));
      if (i % 5 == 0)
        must_apply(state, decide_hold(state, {bench_id(id_kind::hold, ++n), providers[i % 10],
                                              std::nullopt, tokens.back(),
                                              money{1000, currency::usd}, now + 600},
                                      now));
    }
  }
};

charge_command make_charge(const populated_ledger& ledger, std::uint64_t n) {
  std::size_t t = n % ledger.tokens.size();
  return charge_command{bench_id(id_kind::charge, 1'000'000 + n), ledger.tokens[t],
                        ledger.providers[t % 10], money{499, currency::usd}, "metered usage",
                        std::nullopt};
}

void BM_DecideCharge(benchmark::State& bench) {
  populated_ledger ledger;
  std::vector<charge_command> commands;
  for (std::uint64_t i = 0; i < 64; ++i) commands.push_back(make_charge(ledger, i));
  std::size_t i = 0;
  for (auto _ : bench) {
    decision d = decide_charge(ledger.state, commands[i++ % commands.size()], now);
    benchmark::DoNotOptimize(d);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_DecideCharge);

void BM_DecideChargeDeclined(benchmark::State& bench) {
  populated_ledger ledger;
  charge_command command = make_charge(ledger, 0);
  command.amount.amount = 200'000'000; // over every budget: the decline path builds a detail
  for (auto _ : bench) {
    decision d = decide_charge(ledger.state, command, now);
    benchmark::DoNotOptimize(d);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_DecideChargeDeclined);

void BM_ApplyCharge(benchmark::State& bench) {
  // Applying grows the retained charges, so the ledger is rebuilt (outside the timing) whenever
  // the pre-decided events run out.
  constexpr std::uint64_t batch = 4096;
  populated_ledger ledger;
  std::vector<ledger_event> events;
  std::uint64_t serial = 0;
  std::size_t next = 0;
  ledger_state state;
  for (auto _ : bench) {
    if (next == events.size()) {
      bench.PauseTiming();
      state = ledger.state;
      events.clear();
      for (std::uint64_t i = 0; i < batch; ++i) {
        charge_command c = make_charge(ledger, ++serial);
        c.id = bench_id(id_kind::charge, serial);
        events.push_back(charge_created{c.id, c.token, c.provider, std::nullopt, c.amount,
                                        c.description, std::nullopt, now});
      }
      next = 0;
      bench.ResumeTiming();
    }
    apply_event(state, events[next++]);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_ApplyCharge);

void BM_EncodeChargeEvent(benchmark::State& bench) {
  charge_created event{bench_id(id_kind::charge, 1), bench_id(id_kind::payment_token, 2), "provider-3",
                       bench_id(id_kind::session, 3), money{1299, currency::usd}, "metered usage",
                       std::nullopt, now};
  ledger_event e = event;
  std::string out;
  for (auto _ : bench) {
    out.clear();
    encode_event(e, out);
    benchmark::DoNotOptimize(out.data());
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.SetBytesProcessed(bench.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_EncodeChargeEvent);

void BM_DecodeChargeEvent(benchmark::State& bench) {
  std::string json;
  encode_event(charge_created{bench_id(id_kind::charge, 1), bench_id(id_kind::payment_token, 2),
                              "provider-3", bench_id(id_kind::session, 3), money{1299, currency::usd},
                              "metered usage", std::nullopt, now},
               json);
  for (auto _ : bench) {
    ledger_event e;
    json_error error = decode_event(json, e);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(e);
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.SetBytesProcessed(bench.iterations() * static_cast<std::int64_t>(json.size()));
}
BENCHMARK(BM_DecodeChargeEvent);

void BM_VelocityAllow(benchmark::State& bench) {
  velocity_window window(steward::core::limits::charges_per_minute_max);
  std::int64_t t = now;
  std::uint64_t n = 0;
  for (auto _ : bench) {
    // 600 per minute over a steady 10 per second: the window stays full and keeps sliding.
    if (++n % 10 == 0) ++t;
    benchmark::DoNotOptimize(window.allow(t));
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_VelocityAllow);

} // namespace
