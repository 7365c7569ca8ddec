// Micro-benchmarks of the money hot path inside a user actor (core/ledger.hpp): deciding a charge
// against a realistically populated ledger (10 providers, 5 sessions, 50 payment tokens, a global
// cap, some open holds), applying the accepted event, and encoding it for the journal; and the
// image a hibernating user is kept as (made at passivation, opened at its next command). Items are
// operations, so the figures read as operations per second per core.

#include "core/deflate.hpp"
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

// A user who keeps `range(0)` charges, as a busy one does (up to
// `limits::ledger_charges_retained_max`): each new charge's id is checked against the kept ones.
// Ids are time-ordered, as stewardd mints them, so a new one sorts after every kept one.
void BM_DecideChargeWithHistory(benchmark::State& bench) {
  populated_ledger ledger;
  const std::uint64_t ms0 = static_cast<std::uint64_t>(now) * 1000;
  const auto kept = static_cast<std::uint64_t>(bench.range(0));
  for (std::uint64_t i = 0; i < kept; ++i) {
    charge_command c = make_charge(ledger, i);
    c.id = format_time_ordered_id(id_kind::charge, ms0 + i, id_bits{});
    must_apply(ledger.state, decide_charge(ledger.state, c, now));
  }
  std::vector<charge_command> commands;
  for (std::uint64_t i = 0; i < 64; ++i) {
    commands.push_back(make_charge(ledger, i));
    commands.back().id = format_time_ordered_id(id_kind::charge, ms0 + kept + i, id_bits{});
  }
  std::size_t i = 0;
  for (auto _ : bench) {
    decision d = decide_charge(ledger.state, commands[i++ % commands.size()], now);
    benchmark::DoNotOptimize(d);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_DecideChargeWithHistory)->Arg(40)->Arg(1000)->Arg(16000);

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

/// A user like steward-bench's: a profile, a provider cap, one payment token and one charge.
ledger_state small_ledger() {
  ledger_state state;
  user_profile profile;
  profile.platform_ref = "bench-1";
  profile.email = "bench1@example.com";
  profile.created = now;
  profile.updated = now;
  state.profile = profile;
  must_apply(state, decide_set_cap(state, {cap_kind::provider, "acme",
                                           money{1'000'000'000'000, currency::usd}},
                                   now));
  const std::string token = bench_id(id_kind::payment_token, 1);
  must_apply(state, decide_create_token(state,
                                        {token, "acme", std::nullopt,
                                         money{1'000'000'000'000, currency::usd}, now + 86400,
                                         false},
                                        now));
  must_apply(state, decide_charge(state,
                                  charge_command{bench_id(id_kind::charge, 1), token, "acme",
                                                 money{1, currency::usd}, "bench", std::nullopt},
                                  now));
  return state;
}

/// A hibernating user's image (actors/directory.hpp): the snapshot, deflated with the dictionary.
/// Arg 0 is the bench user above, arg 1 the populated ledger of the other benchmarks.
void BM_SnapshotImageMake(benchmark::State& bench) {
  const ledger_state state = bench.range(0) == 0 ? small_ledger() : populated_ledger().state;
  std::size_t json_bytes = 0;
  std::size_t image_bytes = 0;
  for (auto _ : bench) {
    std::string json;
    encode_snapshot(state, json);
    std::string image = deflate_bytes(json, snapshot_dictionary());
    json_bytes = json.size();
    image_bytes = image.size();
    benchmark::DoNotOptimize(image.data());
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["json_bytes"] = static_cast<double>(json_bytes);
  bench.counters["image_bytes"] = static_cast<double>(image_bytes);
}
BENCHMARK(BM_SnapshotImageMake)->Arg(0)->Arg(1);

/// Resuming from an image: inflate, then decode the snapshot.
void BM_SnapshotImageOpen(benchmark::State& bench) {
  const ledger_state state = bench.range(0) == 0 ? small_ledger() : populated_ledger().state;
  std::string json;
  encode_snapshot(state, json);
  const std::string image = deflate_bytes(json, snapshot_dictionary());
  for (auto _ : bench) {
    auto opened = inflate_bytes(image, snapshot_dictionary(), limits::body_bytes_max);
    ledger_state out;
    json_error error = decode_snapshot(*opened, out);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(out);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_SnapshotImageOpen)->Arg(0)->Arg(1);

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
