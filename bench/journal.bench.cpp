// Journal micro-benchmarks (DESIGN 7, "Durable charges"): what the SQLite journal sustains when
// each charge is one event plus one idempotency record, by group size, and what the hash chain
// costs per event. The durable benchmarks write a real file under the system temp dir and fsync
// it: their numbers are the disk's as much as the code's.

#include "core/hash_chain.hpp"
#include "storage/sqlite_journal.hpp"

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using steward::core::chain_genesis;
using steward::core::chain_hash;
using steward::core::next_chain_hash;
using namespace steward::storage;

/// Users the charges are spread over, as in the DESIGN 7 load test.
constexpr std::int64_t users_default = 10000;
constexpr std::int64_t bench_time = 1'700'000'000;

/// A charge event's canonical JSON, about the size the user actor writes.
std::string charge_payload(std::uint64_t n) {
  return R"({"amount":1299,"charge":"chg_)" + std::to_string(n) +
         R"(","currency":"usd","description":"metered usage","payment_token":"ptk_01HZX3Q9K2M7","provider":"refcloud","session":"ses_01HZX3Q9K2M7"})";
}

/// CPU seconds of the whole process (all threads) so far: the writer thread's work does not show in
/// the benchmark's own CPU column, which measures the calling thread only, and on a busy machine
/// CPU per charge is steadier than wall-clock throughput.
double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto const seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// A temp dir removed on scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    auto pattern = (fs::temp_directory_path() / "steward-journal-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      std::abort();
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

/// Durable charges per second: each charge is its own append batch (one event + one idempotency
/// record, as the user actor sends it), spread round-robin over `state.range(1)` user streams, and
/// the writer commits up to `state.range(0)` of them per transaction. Twice that many are kept in
/// flight so that every group can fill up.
void BM_journal_durable_charges(benchmark::State& state) {
  auto const group = static_cast<std::uint32_t>(state.range(0));
  auto const user_count = static_cast<std::size_t>(state.range(1));
  temp_dir dir;
  sqlite_journal_options options;
  options.path = dir.path / "journal.db";
  options.commit_batches = group;
  std::string error;
  auto journal = sqlite_journal::open(options, error);
  if (!journal) {
    state.SkipWithError(error.c_str());
    return;
  }

  struct head {
    std::uint64_t next_seq = 1;
    chain_hash prev = chain_genesis;
  };
  std::vector<head> heads(user_count);
  std::vector<std::string> streams;
  streams.reserve(user_count);
  for (std::size_t u = 0; u < user_count; ++u)
    streams.push_back("usr_" + std::to_string(1'000'000 + u));

  std::mutex mutex;
  std::condition_variable drained;
  std::size_t in_flight = 0;
  std::size_t failed = 0;
  std::size_t const window = 2 * static_cast<std::size_t>(group);
  std::uint64_t n = 0;

  auto const cpu_before = process_cpu_seconds();
  for (auto _ : state) {
    {
      std::unique_lock lock(mutex);
      drained.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    auto const user = n % user_count;
    auto& h = heads[user];
    append_batch batch;
    batch.stream = streams[user];
    batch.prev_hash = h.prev;
    event e{streams[user], h.next_seq, "charge.approved", charge_payload(n), bench_time, {}};
    e.hash = next_chain_hash(h.prev, chain_fields(e));
    h.prev = e.hash;
    ++h.next_seq;
    batch.events.push_back(std::move(e));
    idempotency_record record;
    record.scope_key = "refcloud POST /v1/provider/charges key_" + std::to_string(n);
    record.fingerprint.fill(0x5a);
    record.status = 201;
    record.response_body = R"({"id":"chg_)" + std::to_string(n) + R"(","object":"charge","status":"succeeded"})";
    record.created_at = bench_time;
    batch.idempotency.push_back(std::move(record));
    journal->append(std::move(batch), [&](append_outcome outcome) {
      std::lock_guard lock(mutex);
      --in_flight;
      failed += outcome.durable() ? 0 : 1;
      drained.notify_one();
    });
    ++n;
  }
  {
    std::unique_lock lock(mutex);
    drained.wait(lock, [&] { return in_flight == 0; });
  }
  auto const cpu_seconds = process_cpu_seconds() - cpu_before;
  if (failed > 0)
    state.SkipWithError("some appends were not durable");
  state.counters["process_cpu_us_per_charge"] = cpu_seconds * 1e6 / static_cast<double>(std::max<std::uint64_t>(1, n));
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["charges_per_commit"] =
    static_cast<double>(journal->batches_durable()) / static_cast<double>(std::max<std::uint64_t>(1, journal->commits()));
  state.counters["commits_per_s"] =
    benchmark::Counter(static_cast<double>(journal->commits()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_journal_durable_charges)
  ->ArgNames({"group", "users"})
  ->Args({1, users_default})
  ->Args({64, users_default})
  ->Args({512, users_default})
  ->Args({512, 1})
  ->UseRealTime()->Unit(benchmark::kMicrosecond);

/// The hash of one charge event: what the user actor pays per event appended and every read
/// pays per event returned.
void BM_journal_event_hash(benchmark::State& state) {
  auto const payload = charge_payload(42);
  steward::core::chain_event e{"usr_1000042", 17, "charge.approved", bench_time, payload};
  chain_hash prev = chain_genesis;
  for (auto _ : state) {
    prev = next_chain_hash(prev, e);
    benchmark::DoNotOptimize(prev);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size() + 64));
}
BENCHMARK(BM_journal_event_hash);

/// Building the canonical bytes explicitly (the hash does not need them; tools and other
/// backends that reproduce the chain do).
void BM_journal_event_encode(benchmark::State& state) {
  auto const payload = charge_payload(42);
  steward::core::chain_event e{"usr_1000042", 17, "charge.approved", bench_time, payload};
  std::string out;
  out.reserve(512);
  for (auto _ : state) {
    out.clear();
    steward::core::append_canonical_event(e, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_journal_event_encode);

/// Activation cost: reading back and verifying a stream of `state.range(0)` events.
void BM_journal_read_stream(benchmark::State& state) {
  auto const count = static_cast<std::uint64_t>(state.range(0));
  temp_dir dir;
  sqlite_journal_options options;
  options.path = dir.path / "journal.db";
  std::string error;
  auto journal = sqlite_journal::open(options, error);
  if (!journal) {
    state.SkipWithError(error.c_str());
    return;
  }
  append_batch batch;
  batch.stream = "usr_1000042";
  chain_hash prev = chain_genesis;
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    event e{batch.stream, seq, "charge.approved", charge_payload(seq), bench_time, {}};
    e.hash = next_chain_hash(prev, chain_fields(e));
    prev = e.hash;
    batch.events.push_back(std::move(e));
  }
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  journal->append(std::move(batch), [&](append_outcome) {
    std::lock_guard lock(mutex);
    done = true;
    done_cv.notify_one();
  });
  {
    std::unique_lock lock(mutex);
    done_cv.wait(lock, [&] { return done; });
  }
  for (auto _ : state) {
    auto events = journal->read_stream("usr_1000042", 1, static_cast<std::uint32_t>(count));
    if (!events || events.value().size() != count) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(events.value().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
}
BENCHMARK(BM_journal_read_stream)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

} // namespace
