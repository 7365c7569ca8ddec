#include "storage/sqlite_journal.hpp"

#include "core/hex.hpp"
#include "core/sealed_box.hpp"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::int64_t test_time = 1'700'000'000;
/// How long a test waits for callbacks before it gives up; far above any real commit.
constexpr auto callback_deadline = 60s;

/// The in-memory head of one stream, as its owning actor would keep it.
struct stream_head {
  std::string stream;
  std::uint64_t next_seq = 1;
  core::chain_hash prev = core::chain_genesis;
};

/// The next `count` events of `head`, correctly chained; advances `head` as if they were stored.
append_batch next_batch(stream_head& head, std::size_t count = 1, std::int64_t created_at = test_time) {
  append_batch batch;
  batch.stream = head.stream;
  batch.prev_hash = head.prev;
  for (std::size_t i = 0; i < count; ++i) {
    event e{head.stream, head.next_seq, "charge.approved",
            R"({"amount":)" + std::to_string(100 + head.next_seq) + R"(,"currency":"usd"})", created_at, {}};
    e.hash = core::next_chain_hash(head.prev, chain_fields(e));
    head.prev = e.hash;
    ++head.next_seq;
    batch.events.push_back(std::move(e));
  }
  return batch;
}

idempotency_record make_record(std::string key, std::int64_t created_at = test_time) {
  idempotency_record record;
  record.scope_key = std::move(key);
  record.fingerprint.fill(0xab);
  record.fingerprint[0] = 7;
  record.status = 201;
  record.response_body = R"({"id":"chg_1","object":"charge"})";
  record.created_at = created_at;
  return record;
}

/// Polls `done` every 10 ms until it holds or 5 s have passed; whether it held.
template <typename Predicate>
bool within_5s(Predicate done) {
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// Appends and waits for the callback.
append_outcome append_and_wait(journal& j, append_batch batch) {
  std::promise<append_outcome> done;
  auto future = done.get_future();
  j.append(std::move(batch), [&done](append_outcome outcome) { done.set_value(outcome); });
  EXPECT_EQ(future.wait_for(callback_deadline), std::future_status::ready);
  return future.get();
}

/// Collects the outcomes of many appends, each under its own index.
class outcome_board {
public:
  explicit outcome_board(std::size_t count) : outcomes_(count) {}

  append_callback slot(std::size_t index) {
    return [this, index](append_outcome outcome) {
      std::lock_guard lock(mutex_);
      outcomes_[index] = outcome;
      ++answered_;
      changed_.notify_all();
    };
  }
  /// Waits until every slot is answered; false on timeout.
  bool wait_all() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, callback_deadline, [this] { return answered_ == outcomes_.size(); });
  }
  std::size_t answered() {
    std::lock_guard lock(mutex_);
    return answered_;
  }
  std::optional<append_outcome> at(std::size_t index) {
    std::lock_guard lock(mutex_);
    return outcomes_[index];
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<append_outcome>> outcomes_;
  std::size_t answered_ = 0;
};

/// A raw SQLite connection to the journal file, the way an operator's sqlite3 shell would open it.
class raw_db {
public:
  explicit raw_db(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~raw_db() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << sql << ": " << (message ? message : "");
    sqlite3_free(message);
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    auto const value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

private:
  sqlite3* db_ = nullptr;
};

class SqliteJournal : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-journal-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    options_.path = dir_ / "journal.db";
    options_.clock = [this] { return now_.load(); };
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<sqlite_journal> open() {
    std::string error;
    auto j = sqlite_journal::open(options_, error);
    EXPECT_NE(j, nullptr) << error;
    return j;
  }

  fs::path dir_;
  sqlite_journal_options options_;
  std::atomic<std::int64_t> now_{test_time};
};

void expect_same(const event& stored, const event& original) {
  EXPECT_EQ(stored.stream, original.stream);
  EXPECT_EQ(stored.seq, original.seq);
  EXPECT_EQ(stored.type, original.type);
  EXPECT_EQ(stored.payload, original.payload);
  EXPECT_EQ(stored.created_at, original.created_at);
  EXPECT_EQ(stored.hash, original.hash);
}

TEST_F(SqliteJournal, AppendThenReadRoundTrip) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head head{"usr_a"};
  auto batch = next_batch(head, 3);
  auto const original = batch.events;
  EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());

  auto all = j->read_stream("usr_a", 1, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all.value().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    expect_same(all.value()[i], original[i]);

  auto tail = j->read_stream("usr_a", 2, 100);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail.value().size(), 2u);
  EXPECT_EQ(tail.value()[0].seq, 2u);

  auto limited = j->read_stream("usr_a", 1, 2);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited.value().size(), 2u);

  auto past_end = j->read_stream("usr_a", 4, 100);
  ASSERT_TRUE(past_end);
  EXPECT_TRUE(past_end.value().empty());
  auto unknown = j->read_stream("usr_nobody", 1, 100);
  ASSERT_TRUE(unknown);
  EXPECT_TRUE(unknown.value().empty());
  EXPECT_EQ(j->read_stream("usr_a", 0, 100).error(), journal_error::invalid_request);

  auto verdict = j->verify_stream("usr_a");
  ASSERT_TRUE(verdict);
  EXPECT_TRUE(verdict.value().valid);
  EXPECT_EQ(verdict.value().events, 3u);
  EXPECT_FALSE(verdict.value().first_bad_seq);

  // The next batch continues the stored chain.
  EXPECT_TRUE(append_and_wait(*j, next_batch(head, 2)).durable());
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 5u);
  EXPECT_EQ(j->batches_durable(), 2u);
  EXPECT_EQ(j->events_durable(), 5u);
  EXPECT_GE(j->commits(), 2u);
  EXPECT_EQ(j->queue_depth(), 0u);
}

TEST_F(SqliteJournal, ConcurrentAppendersToDifferentStreamsAreAllDurable) {
  auto j = open();
  ASSERT_TRUE(j);
  constexpr std::size_t threads = 8;
  constexpr std::size_t streams_per_thread = 4;
  constexpr std::size_t rounds = 25;
  std::atomic<std::size_t> failures{0};
  std::vector<std::thread> appenders;
  for (std::size_t t = 0; t < threads; ++t)
    appenders.emplace_back([&, t] {
      std::vector<stream_head> heads;
      for (std::size_t s = 0; s < streams_per_thread; ++s)
        heads.push_back({"usr_t" + std::to_string(t) + "_" + std::to_string(s)});
      for (std::size_t round = 0; round < rounds; ++round) {
        // One batch per stream in flight at once; the next round waits, as an actor would.
        outcome_board board(streams_per_thread);
        for (std::size_t s = 0; s < streams_per_thread; ++s)
          j->append(next_batch(heads[s], 1 + (round % 3)), board.slot(s));
        if (!board.wait_all())
          ++failures;
        for (std::size_t s = 0; s < streams_per_thread; ++s)
          if (!board.at(s) || !board.at(s)->durable())
            ++failures;
      }
    });
  for (auto& thread : appenders)
    thread.join();
  EXPECT_EQ(failures.load(), 0u);

  std::uint64_t expected_events_per_stream = 0;
  for (std::size_t round = 0; round < rounds; ++round)
    expected_events_per_stream += 1 + (round % 3);
  for (std::size_t t = 0; t < threads; ++t)
    for (std::size_t s = 0; s < streams_per_thread; ++s) {
      auto const stream = "usr_t" + std::to_string(t) + "_" + std::to_string(s);
      auto events = j->read_stream(stream, 1, 1000);
      ASSERT_TRUE(events) << stream;
      EXPECT_EQ(events.value().size(), expected_events_per_stream) << stream;
      auto verdict = j->verify_stream(stream);
      EXPECT_TRUE(verdict && verdict.value().valid) << stream;
    }
  EXPECT_EQ(j->batches_durable(), threads * streams_per_thread * rounds);
  EXPECT_EQ(j->events_durable(), threads * streams_per_thread * expected_events_per_stream);
}

TEST_F(SqliteJournal, CheckpointerCopiesTheWalIntoTheDatabaseFile) {
  auto j = open();
  ASSERT_TRUE(j);
  const auto empty_size = fs::file_size(options_.path);
  stream_head head{"usr_checkpointed"};
  outcome_board board(1);
  j->append(next_batch(head, 200), board.slot(0));
  ASSERT_TRUE(board.wait_all());
  ASSERT_TRUE(board.at(0) && board.at(0)->durable());
  // The writer never checkpoints (wal_autocheckpoint=0): the file grows only through the
  // checkpointer thread, which runs a few times a second.
  const auto before = j->checkpoints();
  within_5s([&] { return j->checkpoints() >= before + 2 && fs::file_size(options_.path) > empty_size; });
  EXPECT_GE(j->checkpoints(), before + 2);
  EXPECT_GT(fs::file_size(options_.path), empty_size) << "the WAL was copied into the file";
  raw_db raw(options_.path);
  EXPECT_EQ(raw.scalar("PRAGMA wal_checkpoint(PASSIVE)"), 0) << "nothing left busy";
}

/// Bucket bounds (seconds) of the histograms the tests hand the journal.
constexpr double duration_bounds[] = {0.001, 0.01, 0.1, 1};

/// next_batch(...) with payloads of about 1 KiB each.
append_batch padded_batch(stream_head& head, std::size_t count) {
  std::string const padding(1024, 'p');
  auto batch = next_batch(head, count);
  auto prev = batch.prev_hash;
  for (auto& e : batch.events) {
    e.payload = R"({"padding":")" + padding + std::to_string(e.seq) + R"("})";
    e.hash = core::next_chain_hash(prev, chain_fields(e));
    prev = e.hash;
  }
  head.prev = prev;
  return batch;
}

/// Appends `batches_per_thread` batches of 16 events of about 1 KiB each to one new stream per
/// thread (`prefix` and its number) from `threads` threads, each keeping 64 batches in flight, so that the writer's queue never
/// runs dry. Returns the WAL file's largest size seen meanwhile; every append must be durable.
std::uintmax_t storm(sqlite_journal& j, const fs::path& db_path, int threads, std::size_t batches_per_thread,
                     const std::string& prefix = "usr_storm") {
  constexpr std::size_t in_flight_per_thread = 64;
  constexpr std::size_t events_per_batch = 16;
  std::atomic<std::uintmax_t> wal_high_water{0};
  std::atomic<bool> storming{true};
  std::thread watcher([&] {
    auto const wal = fs::path(db_path.string() + "-wal");
    while (storming.load()) {
      std::error_code ec;
      auto const size = fs::file_size(wal, ec);
      if (!ec && size > wal_high_water.load())
        wal_high_water.store(size);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> appenders;
  for (int t = 0; t < threads; ++t)
    appenders.emplace_back([&, t] {
      std::mutex m;
      std::condition_variable answered;
      std::size_t in_flight = 0;
      stream_head head{prefix + std::to_string(t)};
      for (std::size_t i = 0; i < batches_per_thread; ++i) {
        auto batch = padded_batch(head, events_per_batch);
        {
          std::unique_lock lock(m);
          answered.wait(lock, [&] { return in_flight < in_flight_per_thread; });
          ++in_flight;
        }
        j.append(std::move(batch), [&](append_outcome outcome) {
          if (!outcome.durable())
            failures.fetch_add(1);
          std::lock_guard lock(m);
          --in_flight;
          answered.notify_one();
        });
      }
      std::unique_lock lock(m);
      answered.wait(lock, [&] { return in_flight == 0; });
    });
  for (auto& appender : appenders)
    appender.join();
  storming.store(false);
  watcher.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < threads; ++t) {
    auto verdict = j.verify_stream(prefix + std::to_string(t));
    if (!verdict) {
      ADD_FAILURE() << prefix << t << " could not be verified";
      continue;
    }
    EXPECT_TRUE(verdict.value().valid);
    EXPECT_EQ(verdict.value().events, batches_per_thread * events_per_batch);
  }
  return wal_high_water.load();
}

/// The journal's WAL restarts once there is at least one, or after 5 s.
std::uint64_t wal_restarts_within_5s(sqlite_journal& j) {
  within_5s([&j] { return j.wal_restarts() > 0; });
  return j.wal_restarts();
}

TEST_F(SqliteJournal, AWriterThatNeverIdlesStillHasItsWalRestarted) {
  // The checkpointer alone only resets the WAL when the writer finds it fully copied before a
  // commit, which a writer with batches always waiting never does. A small bound makes the
  // restart happen many times within the storm.
  options_.wal_restart_frames = 64;
  options_.queue_batches = 4096;
  core::metrics::histogram restart_durations(duration_bounds);
  options_.wal_restart_durations = &restart_durations;
  auto j = open();
  ASSERT_TRUE(j);
  // 4 x 768 batches: about 48 MiB of payload.
  auto const high_water = storm(*j, options_.path, 4, 768);
  EXPECT_GE(j->wal_restarts(), 1u) << "the writer restarted the WAL while batches kept coming";
  EXPECT_GE(restart_durations.snapshot().count, j->wal_restarts()) << "each restart observed, and any that gave up";
  EXPECT_EQ(j->redone_groups(), 0u) << "no batch failed, so no group was stored twice";
  // 70 MiB of frames went through the WAL when nothing restarted it (measured); it never held
  // more than the bound plus what the writer commits during a checkpoint pass and its fsync
  // (about 12 MiB, measured).
  EXPECT_LT(high_water, std::uintmax_t{32} << 20);
}

TEST_F(SqliteJournal, AReaderInTheWalDefersItsRestartWithoutStoppingTheWriter) {
  options_.wal_restart_frames = 64;
  options_.queue_batches = 4096;
  auto j = open();
  ASSERT_TRUE(j);
  stream_head seen{"usr_seen"};
  ASSERT_TRUE(append_and_wait(*j, next_batch(seen)).durable());
  {
    // A reader that stays in the WAL (a long audit read, say): no restart can finish meanwhile.
    raw_db reader(options_.path);
    reader.exec("BEGIN");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM events"), 1);
    storm(*j, options_.path, 2, 256);
    EXPECT_EQ(j->wal_restarts(), 0u);
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM events"), 1) << "its snapshot is kept";
    reader.exec("COMMIT");
  }
  // Once it left, the WAL is restarted within an interval or two, whether or not batches keep
  // coming: an idle writer wakes for it.
  storm(*j, options_.path, 2, 64, "usr_after");
  EXPECT_GE(wal_restarts_within_5s(*j), 1u);
}

TEST_F(SqliteJournal, AnIdleWriterStillRestartsALongWal) {
  options_.wal_restart_frames = 64;
  options_.queue_batches = 4096;
  auto j = open();
  ASSERT_TRUE(j);
  stream_head head{"usr_once"};
  // One batch of 512 events of about 1 KiB: a WAL twice the bound and more, then no more batches.
  ASSERT_TRUE(append_and_wait(*j, padded_batch(head, 512)).durable());
  EXPECT_EQ(wal_restarts_within_5s(*j), 1u) << "the writer restarted the WAL without waiting for a batch";
}

TEST_F(SqliteJournal, AWalRestartBoundBelowTheFloorIsRefused) {
  options_.wal_restart_frames = wal_restart_frames_min - 1;
  std::string error;
  EXPECT_EQ(sqlite_journal::open(options_, error), nullptr);
  EXPECT_NE(error.find("wal_restart_frames"), std::string::npos) << error;
}

TEST_F(SqliteJournal, GroupCommitPutsManyBatchesInOneTransaction) {
  options_.queue_batches = 2048;
  core::metrics::histogram commit_durations(duration_bounds);
  options_.commit_durations = &commit_durations;
  auto j = open();
  ASSERT_TRUE(j);
  constexpr std::size_t threads = 8;
  constexpr std::size_t batches_per_thread = 125;
  constexpr std::size_t total = threads * batches_per_thread;
  outcome_board board(total);
  std::vector<std::thread> appenders;
  for (std::size_t t = 0; t < threads; ++t)
    appenders.emplace_back([&, t] {
      for (std::size_t i = 0; i < batches_per_thread; ++i) {
        stream_head head{"usr_g" + std::to_string(t) + "_" + std::to_string(i)};
        auto batch = next_batch(head);
        batch.idempotency.push_back(make_record("key_" + head.stream));
        j->append(std::move(batch), board.slot(t * batches_per_thread + i));
      }
    });
  for (auto& thread : appenders)
    thread.join();
  ASSERT_TRUE(board.wait_all());
  for (std::size_t i = 0; i < total; ++i)
    EXPECT_TRUE(board.at(i)->durable()) << i;
  EXPECT_EQ(j->batches_durable(), total);
  // One fsync per batch would be 1000 commits; grouping must do far better than that.
  EXPECT_LT(j->commits(), total / 4) << "commits: " << j->commits();
  auto const durations = commit_durations.snapshot();
  EXPECT_EQ(durations.count, j->commits()) << "each commit observed";
  EXPECT_GT(durations.sum_seconds, 0.0);
  std::cout << "[          ] " << total << " batches in " << j->commits() << " commits\n";
}

TEST_F(SqliteJournal, ConflictFailsOnlyThatBatchAndItsIdempotencyRecord) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  EXPECT_TRUE(append_and_wait(*j, next_batch(a, 2)).durable());
  auto const commits_before = j->commits();

  // Hold SQLite's write lock from outside, so that the batches below queue up behind it and the
  // writer takes them as one group when it is released.
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE");

  stream_head sentinel{"usr_sentinel"};
  // An actor with a stale view: it thinks seq 2 is still free.
  stream_head stale{"usr_a", 2, j->read_stream("usr_a", 1, 1).value()[0].hash};
  stream_head b{"usr_b"};
  outcome_board board(4);
  j->append(next_batch(sentinel), board.slot(0));
  auto duplicate = next_batch(stale);
  duplicate.idempotency.push_back(make_record("key_duplicate"));
  j->append(std::move(duplicate), board.slot(1));
  auto fresh = next_batch(b);
  fresh.idempotency.push_back(make_record("key_fresh"));
  j->append(std::move(fresh), board.slot(2));
  j->append(next_batch(a), board.slot(3)); // seq 3 of usr_a, after the conflicting one
  EXPECT_EQ(board.answered(), 0u);
  blocker.exec("COMMIT");

  ASSERT_TRUE(board.wait_all());
  EXPECT_TRUE(board.at(0)->durable());
  ASSERT_FALSE(board.at(1)->durable());
  EXPECT_EQ(board.at(1)->error, journal_error::conflict);
  EXPECT_TRUE(board.at(2)->durable());
  EXPECT_TRUE(board.at(3)->durable());
  // The three later batches shared one transaction (the sentinel may have had its own).
  EXPECT_LE(j->commits() - commits_before, 2u);
  EXPECT_EQ(j->conflicts(), 1u);
  EXPECT_EQ(j->redone_groups(), 1u) << "stored again, a savepoint per batch, once the conflict showed";

  EXPECT_FALSE(j->find_idempotency("key_duplicate").value().has_value());
  auto stored = j->find_idempotency("key_fresh");
  ASSERT_TRUE(stored);
  ASSERT_TRUE(stored.value().has_value());
  auto const expected = make_record("key_fresh");
  EXPECT_EQ(stored.value()->fingerprint, expected.fingerprint);
  EXPECT_EQ(stored.value()->status, expected.status);
  EXPECT_EQ(stored.value()->response_body, expected.response_body);
  EXPECT_EQ(stored.value()->created_at, expected.created_at);

  auto events = j->read_stream("usr_a", 1, 10);
  ASSERT_TRUE(events);
  ASSERT_EQ(events.value().size(), 3u);
  EXPECT_EQ(events.value()[2].hash, a.prev);
  EXPECT_TRUE(j->verify_stream("usr_a").value().valid);
}

TEST_F(SqliteJournal, BatchThatDoesNotContinueTheStoredHeadIsAConflict) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  EXPECT_TRUE(append_and_wait(*j, next_batch(a)).durable());

  stream_head gap{"usr_a", 3, a.prev}; // seq 2 was never stored
  EXPECT_EQ(append_and_wait(*j, next_batch(gap)).error, journal_error::conflict);

  core::chain_hash wrong_prev = a.prev;
  wrong_prev[0] ^= 1;
  stream_head forked{"usr_a", 2, wrong_prev};
  EXPECT_EQ(append_and_wait(*j, next_batch(forked)).error, journal_error::conflict);

  auto dup_key = next_batch(a);
  dup_key.idempotency.push_back(make_record("key_once"));
  EXPECT_TRUE(append_and_wait(*j, std::move(dup_key)).durable());
  append_batch again;
  again.stream = "usr_a";
  again.idempotency.push_back(make_record("key_once"));
  EXPECT_EQ(append_and_wait(*j, std::move(again)).error, journal_error::conflict);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 2u);

  // The event is valid and inserted first; the key clash after it must take it back out: the
  // batch is one unit.
  auto event_then_taken_key = next_batch(a);
  event_then_taken_key.idempotency.push_back(make_record("key_once"));
  EXPECT_EQ(append_and_wait(*j, std::move(event_then_taken_key)).error, journal_error::conflict);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 2u);
  EXPECT_EQ(j->conflicts(), 4u);
}

// The writer keeps the head it committed for each stream (docs/journal.md, "The fence without a
// read"): a batch continuing it is fenced in memory, with the same answers as a read.
TEST_F(SqliteJournal, AFenceOnAHeadTheWriterCommittedIsAnsweredWithoutARead) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable()); // seq 1: no fence
  EXPECT_EQ(j->fences_from_memory(), 0u);
  ASSERT_TRUE(append_and_wait(*j, next_batch(a, 3)).durable());
  EXPECT_EQ(j->fences_from_memory(), 1u);

  core::chain_hash wrong_prev = a.prev;
  wrong_prev[5] ^= 1;
  stream_head forked{"usr_a", a.next_seq, wrong_prev};
  EXPECT_EQ(append_and_wait(*j, next_batch(forked)).error, journal_error::conflict);
  // Checked twice: the group is stored again, a savepoint per batch, once a batch failed.
  EXPECT_EQ(j->fences_from_memory(), 3u);
  ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable());
  EXPECT_EQ(j->fences_from_memory(), 4u);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 5u);

  // After a reopen nothing is held: the fence reads, and answers alike.
  j.reset();
  j = open();
  ASSERT_TRUE(j);
  stream_head reforked{"usr_a", a.next_seq, wrong_prev};
  EXPECT_EQ(append_and_wait(*j, next_batch(reforked)).error, journal_error::conflict);
  ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable());
  EXPECT_EQ(j->fences_from_memory(), 0u);
  ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable()); // continues the head just stored
  EXPECT_EQ(j->fences_from_memory(), 1u);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 7u);
}

TEST_F(SqliteJournal, WithoutStreamHeadsEveryFenceReads) {
  options_.stream_heads_slots = 0;
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable());
  stream_head gap{"usr_a", a.next_seq + 1, a.prev};
  EXPECT_EQ(append_and_wait(*j, next_batch(gap)).error, journal_error::conflict);
  EXPECT_EQ(j->fences_from_memory(), 0u);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 3u);
}

// A batch that failed must not leave its events as the stream's head: a batch chained on them
// would pass the fence with no predecessor stored.
TEST_F(SqliteJournal, OnlyStoredBatchesLeaveAHeadForTheFence) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"}, b{"usr_b"};
  ASSERT_TRUE(append_and_wait(*j, next_batch(a)).durable());
  auto taken = next_batch(b);
  taken.aliases.push_back(alias{"ptk:shared", "usr_b"});
  ASSERT_TRUE(append_and_wait(*j, std::move(taken)).durable());
  auto refused = next_batch(a); // a's seq 2, with an alias key usr_b holds
  refused.aliases.push_back(alias{"ptk:shared", "usr_a"});
  EXPECT_EQ(append_and_wait(*j, std::move(refused)).error, journal_error::conflict);
  // Seq 3, chained on the refused seq 2.
  EXPECT_EQ(append_and_wait(*j, next_batch(a)).error, journal_error::conflict);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 1u);
}

TEST_F(SqliteJournal, MalformedBatchesAreRefusedBeforeQueueing) {
  auto j = open();
  ASSERT_TRUE(j);
  auto const refused_at_once = [&](append_batch batch) {
    std::optional<append_outcome> seen;
    j->append(std::move(batch), [&seen](append_outcome outcome) { seen = outcome; });
    EXPECT_TRUE(seen.has_value()) << "a malformed batch must be answered before append returns";
    return seen && seen->error == journal_error::invalid_request;
  };
  EXPECT_TRUE(refused_at_once(append_batch{}));
  stream_head a{"usr_a"};
  auto empty_stream = next_batch(a);
  empty_stream.stream.clear();
  EXPECT_TRUE(refused_at_once(std::move(empty_stream)));
  a = {"usr_a"};
  auto not_consecutive = next_batch(a, 3);
  not_consecutive.events[2].seq = 5;
  EXPECT_TRUE(refused_at_once(std::move(not_consecutive)));
  a = {"usr_a"};
  auto other_stream = next_batch(a, 2);
  other_stream.events[1].stream = "usr_b";
  EXPECT_TRUE(refused_at_once(std::move(other_stream)));
  a = {"usr_a"};
  auto bad_genesis = next_batch(a);
  bad_genesis.prev_hash[5] = 1;
  EXPECT_TRUE(refused_at_once(std::move(bad_genesis)));
  a = {"usr_a"};
  EXPECT_TRUE(refused_at_once(next_batch(a, core::limits::journal_batch_events_max + 1)));
  EXPECT_EQ(j->events_durable(), 0u);
}

TEST_F(SqliteJournal, WrongCallerHashIsNeverServedAsValidHistory) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  auto batch = next_batch(a, 2);
  batch.events[1].hash[0] ^= 0xff;
  auto const outcome = append_and_wait(*j, std::move(batch));
  if (outcome.durable()) {
    // Release builds trust the caller on write and catch it on read.
    EXPECT_EQ(j->read_stream("usr_a", 1, 10).failure().bad_seq, 2u);
  } else {
    // Debug builds recompute the batch's chain before queueing it.
    EXPECT_EQ(outcome.error, journal_error::invalid_request);
  }
}

TEST_F(SqliteJournal, FullQueueAnswersOverloadedAtOnce) {
  options_.queue_batches = 4;
  constexpr std::size_t appends = 6;
  outcome_board board(appends); // outlives the journal, which answers every slot as it stops
  auto j = open();
  ASSERT_TRUE(j);
  // The writer purges once as it starts; after this batch that is done, and it waits idle.
  stream_head warm_up{"usr_warm_up"};
  ASSERT_TRUE(append_and_wait(*j, next_batch(warm_up)).durable());
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE"); // the writer stalls on its next transaction

  // The writer takes whatever is queued as one group, so the first batch must be in its hands,
  // stalled, before the rest arrive; otherwise how many fit would depend on when it woke.
  stream_head first{"usr_q0"};
  j->append(next_batch(first), board.slot(0));
  within_5s([&] { return j->queue_depth() == 0; });
  ASSERT_EQ(j->queue_depth(), 0u) << "the writer took the first batch";
  ASSERT_FALSE(board.at(0)) << "and is stalled on it";

  // Four fit in the queue behind the stalled writer; the fifth is refused at once.
  for (std::size_t i = 1; i < appends; ++i) {
    stream_head head{"usr_q" + std::to_string(i)};
    j->append(next_batch(head), board.slot(i));
    if (i < appends - 1) {
      EXPECT_FALSE(board.at(i)) << "batch " << i << " was queued";
    }
  }
  ASSERT_TRUE(board.at(appends - 1));
  EXPECT_EQ(board.at(appends - 1)->error, journal_error::overloaded);
  EXPECT_EQ(j->overloads(), 1u);
  EXPECT_EQ(j->queue_depth(), 4u);

  blocker.exec("COMMIT");
  ASSERT_TRUE(board.wait_all());
  for (std::size_t i = 0; i < appends - 1; ++i)
    EXPECT_TRUE(board.at(i)->durable()) << "batch " << i;
  EXPECT_EQ(j->queue_depth(), 0u);
  EXPECT_EQ(j->overloads(), 1u);
}

TEST_F(SqliteJournal, StopDrainsTheQueueThenRefuses) {
  auto j = open();
  ASSERT_TRUE(j);
  constexpr std::size_t count = 200;
  outcome_board board(count);
  for (std::size_t i = 0; i < count; ++i) {
    stream_head head{"usr_s" + std::to_string(i)};
    j->append(next_batch(head), board.slot(i));
  }
  j->stop();
  // stop() returned: every callback has run, all durable.
  EXPECT_EQ(board.answered(), count);
  for (std::size_t i = 0; i < count; ++i)
    EXPECT_TRUE(board.at(i)->durable());
  stream_head late{"usr_late"};
  EXPECT_EQ(append_and_wait(*j, next_batch(late)).error, journal_error::stopped);
  j->stop(); // idempotent
  EXPECT_EQ(j->read_stream("usr_s7", 1, 10).value().size(), 1u);
}

TEST_F(SqliteJournal, ReopenFindsEverythingAndMigrationsAreIdempotent) {
  stream_head a{"usr_a"};
  std::vector<std::string> notices;
  options_.notice = [&notices](const std::string& line) { notices.push_back(line); };
  {
    auto j = open();
    ASSERT_TRUE(j);
    for (int i = 0; i < 10; ++i) {
      auto batch = next_batch(a, 3);
      batch.idempotency.push_back(make_record("key_" + std::to_string(i)));
      EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());
    }
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto j = open();
    ASSERT_TRUE(j);
    auto events = j->read_stream("usr_a", 1, 100);
    ASSERT_TRUE(events);
    EXPECT_EQ(events.value().size(), 30u);
    EXPECT_EQ(events.value().back().hash, a.prev);
    EXPECT_TRUE(j->find_idempotency("key_9").value().has_value());
  }
  EXPECT_TRUE(notices.empty()) << "a new file and a current one are opened without a word: " << notices.front();
  raw_db db(options_.path);
  // One row per migration, each applied once however often the file is opened.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version"), sqlite_journal::schema_version);
  EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), sqlite_journal::schema_version);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 30);
  // WAL mode is a property of the file: it must persist.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
}

TEST_F(SqliteJournal, FileFromANewerSchemaIsRefused) {
  { ASSERT_TRUE(open()); }
  {
    raw_db db(options_.path);
    db.exec("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");
  }
  std::string error;
  EXPECT_EQ(sqlite_journal::open(options_, error), nullptr);
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
  EXPECT_NE(error.find(options_.path.string()), std::string::npos) << error;
}

TEST_F(SqliteJournal, OptionsOutsideTheirLimitsAreRefused) {
  std::string error;
  auto bad = options_;
  bad.idempotency_retention_s = core::limits::idempotency_retention_s_min - 1;
  EXPECT_EQ(sqlite_journal::open(bad, error), nullptr);
  EXPECT_NE(error.find("idempotency_retention_s"), std::string::npos) << error;
  bad = options_;
  bad.queue_batches = core::limits::journal_queue_batches_max + 1;
  EXPECT_EQ(sqlite_journal::open(bad, error), nullptr);
  EXPECT_NE(error.find("queue_batches"), std::string::npos) << error;
  bad = options_;
  bad.commit_batches = 0;
  EXPECT_EQ(sqlite_journal::open(bad, error), nullptr);
  EXPECT_NE(error.find("commit_batches"), std::string::npos) << error;
  bad = options_;
  bad.path = dir_ / "missing-dir" / "journal.db";
  EXPECT_EQ(sqlite_journal::open(bad, error), nullptr);
  EXPECT_NE(error.find("missing-dir"), std::string::npos) << error;
}

TEST_F(SqliteJournal, CorruptedPayloadIsReportedAtItsSeq) {
  stream_head a{"usr_a"};
  {
    auto j = open();
    ASSERT_TRUE(j);
    EXPECT_TRUE(append_and_wait(*j, next_batch(a, 2)).durable());
    EXPECT_TRUE(append_and_wait(*j, next_batch(a, 3)).durable());
  }
  {
    raw_db db(options_.path);
    // One byte of event 3's payload: `{` becomes `[`.
    db.exec("UPDATE events SET payload = '[' || substr(payload, 2) WHERE stream = 'usr_a' AND seq = 3");
  }
  auto j = open();
  ASSERT_TRUE(j);
  auto read = j->read_stream("usr_a", 1, 100);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), journal_error::corrupt);
  EXPECT_EQ(read.failure().bad_seq, 3u);
  // History before the damage still reads; a tail after it chains from the stored hash of 3.
  EXPECT_EQ(j->read_stream("usr_a", 1, 2).value().size(), 2u);
  EXPECT_EQ(j->read_stream("usr_a", 4, 100).value().size(), 2u);

  auto verdict = j->verify_stream("usr_a");
  ASSERT_TRUE(verdict);
  EXPECT_FALSE(verdict.value().valid);
  EXPECT_EQ(verdict.value().events, 5u);
  EXPECT_EQ(verdict.value().first_bad_seq, 3u);
}

TEST_F(SqliteJournal, DeletedEventIsReportedAsAGap) {
  stream_head a{"usr_a"};
  {
    auto j = open();
    ASSERT_TRUE(j);
    EXPECT_TRUE(append_and_wait(*j, next_batch(a, 4)).durable());
  }
  {
    raw_db db(options_.path);
    db.exec("DELETE FROM events WHERE stream = 'usr_a' AND seq = 2");
  }
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->read_stream("usr_a", 1, 100).failure().bad_seq, 2u);
  auto tail = j->read_stream("usr_a", 3, 100);
  ASSERT_FALSE(tail);
  EXPECT_EQ(tail.error(), journal_error::corrupt);
  EXPECT_EQ(tail.failure().bad_seq, 2u);
  auto verdict = j->verify_stream("usr_a").value();
  EXPECT_FALSE(verdict.valid);
  EXPECT_EQ(verdict.first_bad_seq, 2u);
  EXPECT_EQ(verdict.events, 3u);
}

TEST_F(SqliteJournal, SnapshotRoundTripAndOnlyNewerReplaces) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->latest_snapshot("usr_a").value().has_value());
  stream_head a{"usr_a"};
  EXPECT_TRUE(append_and_wait(*j, next_batch(a, 3)).durable());
  auto const hash_at_2 = j->read_stream("usr_a", 2, 1).value()[0].hash;

  auto with_snapshot = next_batch(a, 1);
  with_snapshot.snapshot = snapshot{"usr_a", 4, a.prev, R"({"balance":1234})", test_time + 5};
  EXPECT_TRUE(append_and_wait(*j, std::move(with_snapshot)).durable());
  auto found = j->latest_snapshot("usr_a");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found.value().has_value());
  EXPECT_EQ(found.value()->seq, 4u);
  EXPECT_EQ(found.value()->hash, a.prev);
  EXPECT_EQ(found.value()->state, R"({"balance":1234})");
  EXPECT_EQ(found.value()->created_at, test_time + 5);

  // An older snapshot arriving later does not replace the newer one.
  append_batch older;
  older.stream = "usr_a";
  older.snapshot = snapshot{"usr_a", 2, hash_at_2, "old", test_time};
  EXPECT_TRUE(append_and_wait(*j, std::move(older)).durable());
  EXPECT_EQ(j->latest_snapshot("usr_a").value()->seq, 4u);

  // A snapshot whose hash is not on the chain fails its batch, events included.
  auto off_chain = next_batch(a, 1);
  off_chain.snapshot = snapshot{"usr_a", 5, hash_at_2, "bad", test_time};
  EXPECT_EQ(append_and_wait(*j, std::move(off_chain)).error, journal_error::invalid_request);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 4u);
}

TEST_F(SqliteJournal, ExpiredIdempotencyRecordsArePurged) {
  auto j = open();
  ASSERT_TRUE(j);
  append_batch batch;
  batch.stream = "usr_a";
  batch.idempotency.push_back(make_record("key_old", test_time));
  batch.idempotency.push_back(make_record("key_new", test_time + 2 * 86'400));
  EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());

  // Just inside the retention: nothing goes.
  now_ = test_time + options_.idempotency_retention_s;
  std::promise<append_outcome> first;
  j->purge_idempotency([&first](append_outcome outcome) { first.set_value(outcome); });
  EXPECT_TRUE(first.get_future().get().durable());
  EXPECT_TRUE(j->find_idempotency("key_old").value().has_value());

  now_ = test_time + options_.idempotency_retention_s + 1;
  std::promise<append_outcome> second;
  j->purge_idempotency([&second](append_outcome outcome) { second.set_value(outcome); });
  EXPECT_TRUE(second.get_future().get().durable());
  EXPECT_FALSE(j->find_idempotency("key_old").value().has_value());
  EXPECT_TRUE(j->find_idempotency("key_new").value().has_value());
  EXPECT_EQ(j->idempotency_purged(), 1u);
}

/// Stores records `prefix`0 .. `prefix`(count - 1), created at `created_at`, in batches of 50
/// (`journal_batch_idempotency_max` is 64); false when one is not durable.
bool store_records(journal& j, const std::string& prefix, int count, std::int64_t created_at = test_time) {
  for (int first = 0; first < count; first += 50) {
    append_batch batch;
    batch.stream = "usr_a";
    for (int i = first; i < std::min(count, first + 50); ++i)
      batch.idempotency.push_back(make_record(prefix + std::to_string(i), created_at));
    if (!append_and_wait(j, std::move(batch)).durable())
      return false;
  }
  return true;
}

TEST_F(SqliteJournal, APurgeThatHitsItsRowLimitIsFollowedWithinSeconds) {
  auto j = open();
  ASSERT_TRUE(j);
  auto const expired = static_cast<int>(core::limits::idempotency_purge_rows_max) + 50;
  ASSERT_TRUE(store_records(*j, "old-", expired, test_time));
  now_ = test_time + options_.idempotency_retention_s + 1;
  std::promise<append_outcome> first;
  j->purge_idempotency([&first](append_outcome outcome) { first.set_value(outcome); });
  EXPECT_TRUE(first.get_future().get().durable());
  EXPECT_EQ(j->idempotency_purged(), core::limits::idempotency_purge_rows_max);
  // Nobody asks again, and the journal is idle: the writer purges the rest by itself, long before
  // the regular interval (a minute).
  EXPECT_TRUE(within_5s([&] { return j->idempotency_purged() == static_cast<std::uint64_t>(expired); }))
    << "purged: " << j->idempotency_purged();
  EXPECT_FALSE(j->find_idempotency("old-" + std::to_string(expired - 1)).value().has_value());
}

// --- Idempotency filter ---------------------------------------------------------------------------

/// Waits (at most 5 s) until the filter's start-up scan is done.
bool filter_complete_within_5s(const sqlite_journal& j) {
  return within_5s([&j] { return j.filter() != nullptr && j.filter()->complete(); });
}

/// Keys "fresh-0".. never stored that `j` still answers "maybe" for, out of `count`.
int fresh_keys_maybe(const journal& j, int count) {
  int maybe = 0;
  for (int i = 0; i < count; ++i)
    maybe += j.may_hold_idempotency("fresh-" + std::to_string(i)) ? 1 : 0;
  return maybe;
}

TEST_F(SqliteJournal, AfterReopenTheFilterKnowsEveryStoredKeyOnceItsScanIsDone) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    ASSERT_TRUE(store_records(*j, "stored-", 300));
  }
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(filter_complete_within_5s(*j));
  for (int i = 0; i < 300; ++i)
    EXPECT_TRUE(j->may_hold_idempotency("stored-" + std::to_string(i))) << i;
  EXPECT_LT(fresh_keys_maybe(*j, 1000), 20) << "a fresh key needs no read";
  EXPECT_EQ(j->filter()->keys(), 300u);
  EXPECT_EQ(j->filter()->capacity(), (std::uint64_t{16} << 20) / 8 * 4);
  EXPECT_GE(j->filter()->answered_no(), 980u);
}

TEST_F(SqliteJournal, WithoutAFilterEveryKeyMayBeHeld) {
  options_.idempotency_filter_bytes = 0;
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->filter(), nullptr);
  EXPECT_EQ(fresh_keys_maybe(*j, 100), 100);
}

TEST_F(SqliteJournal, AKeyIsHeldBeforeItsAppendIsAnsweredDurableAndAFailedOneIsNot) {
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(filter_complete_within_5s(*j));
  stream_head head{"usr_a"};
  auto batch = next_batch(head);
  batch.idempotency.push_back(make_record("key-1"));
  std::promise<bool> held_at_callback;
  j->append(std::move(batch), [&](append_outcome outcome) {
    EXPECT_TRUE(outcome.durable());
    held_at_callback.set_value(j->may_hold_idempotency("key-1"));
  });
  EXPECT_TRUE(held_at_callback.get_future().get());

  // A batch that fails (its seq is taken) stores no record, and its key stays unknown.
  stream_head stale{"usr_a"};
  auto clash = next_batch(stale);
  clash.idempotency.push_back(make_record("key-2"));
  EXPECT_EQ(append_and_wait(*j, std::move(clash)).error, journal_error::conflict);
  EXPECT_FALSE(j->find_idempotency("key-2").value().has_value());
  EXPECT_FALSE(j->may_hold_idempotency("key-2"));
}

TEST_F(SqliteJournal, APurgeEmptiesOnlyFilterGenerationsWhoseRecordsItDeleted) {
  // 4 KiB: four generations of 128 words, 512 keys each.
  options_.idempotency_filter_bytes = 4096;
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(filter_complete_within_5s(*j));
  auto const purge = [&] {
    std::promise<append_outcome> done;
    j->purge_idempotency([&done](append_outcome outcome) { done.set_value(outcome); });
    return done.get_future().get().durable();
  };
  ASSERT_TRUE(store_records(*j, "old-", 600, test_time)); // the first generation, some of the next
  ASSERT_TRUE(store_records(*j, "new-", 600, test_time + 100));
  ASSERT_TRUE(store_records(*j, "newest-", 10, test_time + 200));

  // The old records are not expired yet: nothing is emptied.
  now_ = test_time + options_.idempotency_retention_s;
  ASSERT_TRUE(purge());
  EXPECT_EQ(j->filter()->retired(), 0u);

  // They are now, and deleted; the generations that held only them are emptied, and every
  // record still stored is still "maybe".
  now_ = test_time + options_.idempotency_retention_s + 1;
  ASSERT_TRUE(purge());
  EXPECT_EQ(j->idempotency_purged(), 600u);
  EXPECT_GE(j->filter()->retired(), 1u);
  for (int i = 0; i < 600; ++i)
    ASSERT_TRUE(j->may_hold_idempotency("new-" + std::to_string(i))) << i;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(j->may_hold_idempotency("newest-" + std::to_string(i))) << i;
}

TEST_F(SqliteJournal, ARecordCreatedBeforeTheOneWrittenBeforeItIsKeptAsLongAsThatOne) {
  // 4 KiB of filter: four generations of 512 keys each.
  options_.idempotency_filter_bytes = 4096;
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(filter_complete_within_5s(*j));
  // Actors whose clocks are a minute behind another's write after it: 512 records fill the
  // filter's first generation, 512 from the clock behind its second, and one more opens a third.
  ASSERT_TRUE(store_records(*j, "ahead-", 512, test_time + 60));
  ASSERT_TRUE(store_records(*j, "behind-", 512, test_time));
  ASSERT_TRUE(store_records(*j, "later-", 1, test_time + 1));
  EXPECT_EQ(j->find_idempotency("behind-0").value()->created_at, test_time + 60);
  EXPECT_EQ(j->find_idempotency("later-0").value()->created_at, test_time + 60);

  // Past the retention of the time they were made, before that of the records written before
  // them: the purge deletes nothing, and the second generation, whose keys were made at
  // test_time but stored as test_time + 60, is not emptied. Every stored key is still "maybe".
  now_ = test_time + options_.idempotency_retention_s + 30;
  std::promise<append_outcome> first;
  j->purge_idempotency([&first](append_outcome outcome) { first.set_value(outcome); });
  EXPECT_TRUE(first.get_future().get().durable());
  EXPECT_EQ(j->idempotency_purged(), 0u);
  EXPECT_EQ(j->filter()->retired(), 0u);
  for (int i = 0; i < 512; ++i) {
    ASSERT_TRUE(j->may_hold_idempotency("behind-" + std::to_string(i))) << i;
    ASSERT_TRUE(j->may_hold_idempotency("ahead-" + std::to_string(i))) << i;
  }
  EXPECT_TRUE(j->find_idempotency("behind-511").value().has_value());

  // Past the retention of test_time + 60, all of them go (the second piece by itself).
  now_ = test_time + 60 + options_.idempotency_retention_s + 1;
  std::promise<append_outcome> second;
  j->purge_idempotency([&second](append_outcome outcome) { second.set_value(outcome); });
  EXPECT_TRUE(second.get_future().get().durable());
  EXPECT_TRUE(within_5s([&] { return j->idempotency_purged() == 1025u; })) << j->idempotency_purged();
  EXPECT_FALSE(j->find_idempotency("behind-0").value().has_value());
}

// --- Alias index -----------------------------------------------------------------------------------

/// An alias-only batch written by `stream`'s actor.
append_batch alias_batch(std::string stream, std::vector<alias> aliases) {
  append_batch batch;
  batch.stream = std::move(stream);
  batch.aliases = std::move(aliases);
  return batch;
}

/// What `find_alias` answers for `key`, or "<error>" when it fails.
std::optional<std::string> stream_of(journal& j, std::string_view key) {
  auto found = j.find_alias(key);
  EXPECT_TRUE(found) << key;
  return found ? found.value() : std::optional<std::string>("<error>");
}

TEST_F(SqliteJournal, AliasStoredWithItsEventsIsFoundAfterReopen) {
  stream_head a{"usr_a"};
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto batch = next_batch(a, 2);
    batch.aliases.push_back({"ptk:ptk_abc", "usr_a"});
    batch.aliases.push_back({"ref:plat_7", "usr_a"});
    EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());
    EXPECT_EQ(stream_of(*j, "ptk:ptk_abc"), "usr_a");
  }
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(stream_of(*j, "ptk:ptk_abc"), "usr_a");
  EXPECT_EQ(stream_of(*j, "ref:plat_7"), "usr_a");
  EXPECT_EQ(stream_of(*j, "ptk:ptk_other"), std::nullopt);
  EXPECT_EQ(stream_of(*j, "ptk:ptk_ab"), std::nullopt); // a prefix is not a match
  // Keys that can never be stored are simply not found: they may come from a client.
  EXPECT_EQ(stream_of(*j, ""), std::nullopt);
  EXPECT_EQ(stream_of(*j, std::string(alias_key_bytes_max + 1, 'k')), std::nullopt);
  EXPECT_EQ(j->read_stream("usr_a", 1, 10).value().size(), 2u);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aliases"), 2);
}

TEST_F(SqliteJournal, AliasKeyAlreadyStoredWithTheSameStreamIsANoOp) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  auto first = next_batch(a);
  first.aliases.push_back({"sst:aa01", "usr_a"});
  EXPECT_TRUE(append_and_wait(*j, std::move(first)).durable());

  // A retry of the same mint: the alias is there already, the batch's events still go in.
  auto again = next_batch(a, 2);
  again.aliases.push_back({"sst:aa01", "usr_a"});
  EXPECT_TRUE(append_and_wait(*j, std::move(again)).durable());
  EXPECT_EQ(j->read_stream("usr_a", 1, 10).value().size(), 3u);

  // The same key twice in one batch, with the same stream, is stored once.
  EXPECT_TRUE(append_and_wait(*j, alias_batch("usr_a", {{"sst:bb02", "usr_a"}, {"sst:bb02", "usr_a"}})).durable());
  EXPECT_EQ(stream_of(*j, "sst:aa01"), "usr_a");
  EXPECT_EQ(stream_of(*j, "sst:bb02"), "usr_a");
  EXPECT_EQ(j->conflicts(), 0u);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aliases"), 2);
}

TEST_F(SqliteJournal, AliasKeyOfAnotherStreamFailsOnlyItsBatch) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  auto minted = next_batch(a);
  minted.aliases.push_back({"ptk:taken", "usr_a"});
  EXPECT_TRUE(append_and_wait(*j, std::move(minted)).durable());
  auto const commits_before = j->commits();

  // As in ConflictFailsOnlyThatBatch...: hold the write lock so that the batches below are
  // stored as one group when it is released.
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE");

  stream_head sentinel{"usr_sentinel"};
  stream_head b{"usr_b"};
  stream_head c{"usr_c"};
  outcome_board board(5);
  j->append(next_batch(sentinel), board.slot(0));
  // Events, an idempotency record and a fresh alias are written before the clashing alias: all of
  // them must be taken back out.
  auto clash = next_batch(b, 2);
  clash.idempotency.push_back(make_record("key_b"));
  clash.aliases.push_back({"ptk:fresh_b", "usr_b"});
  clash.aliases.push_back({"ptk:taken", "usr_b"});
  j->append(std::move(clash), board.slot(1));
  auto fine = next_batch(c);
  fine.aliases.push_back({"ptk:c", "usr_c"});
  j->append(std::move(fine), board.slot(2));
  // Two batches of the same group claim one new key: the first wins, the second conflicts with
  // a row that is not even committed yet.
  j->append(alias_batch("usr_d", {{"ref:new", "usr_d"}}), board.slot(3));
  j->append(alias_batch("usr_e", {{"ref:new", "usr_e"}}), board.slot(4));
  EXPECT_EQ(board.answered(), 0u);
  blocker.exec("COMMIT");

  ASSERT_TRUE(board.wait_all());
  EXPECT_TRUE(board.at(0)->durable());
  EXPECT_EQ(board.at(1)->error, journal_error::conflict);
  EXPECT_TRUE(board.at(2)->durable());
  EXPECT_TRUE(board.at(3)->durable());
  EXPECT_EQ(board.at(4)->error, journal_error::conflict);
  EXPECT_LE(j->commits() - commits_before, 2u);
  EXPECT_EQ(j->conflicts(), 2u);

  EXPECT_TRUE(j->read_stream("usr_b", 1, 10).value().empty());
  EXPECT_FALSE(j->find_idempotency("key_b").value().has_value());
  EXPECT_EQ(stream_of(*j, "ptk:fresh_b"), std::nullopt);
  EXPECT_EQ(stream_of(*j, "ptk:taken"), "usr_a");
  EXPECT_EQ(j->read_stream("usr_c", 1, 10).value().size(), 1u);
  EXPECT_EQ(stream_of(*j, "ptk:c"), "usr_c");
  EXPECT_EQ(stream_of(*j, "ref:new"), "usr_d");
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aliases"), 3);
}

TEST_F(SqliteJournal, BatchOfOnlyAliasesIsStored) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_TRUE(
    append_and_wait(*j, alias_batch("usr_dir", {{"ref:acme_1", "usr_a"}, {"ref:acme_2", "usr_b"}})).durable());
  EXPECT_EQ(j->batches_durable(), 1u);
  EXPECT_EQ(j->events_durable(), 0u);
  // An alias need not name the batch's own stream.
  EXPECT_EQ(stream_of(*j, "ref:acme_1"), "usr_a");
  EXPECT_EQ(stream_of(*j, "ref:acme_2"), "usr_b");
  EXPECT_TRUE(j->read_stream("usr_dir", 1, 10).value().empty());
}

TEST_F(SqliteJournal, ReadAliasesPagesInBytewiseKeyOrder) {
  auto j = open();
  ASSERT_TRUE(j);
  // Bytewise: upper case before lower case, and a UTF-8 byte (0xc3) after every ASCII one.
  std::vector<alias> const expected = {
    {"ptk:a", "usr_1"}, {"ptk:z", "usr_2"}, {"ref:B", "usr_3"}, {"ref:a", "usr_4"},
    {"ref:b", "usr_5"}, {"sst:z", "usr_6"}, {"sst:\xc3\xa9", "usr_7"},
  };
  EXPECT_TRUE(
    append_and_wait(*j, alias_batch("usr_x", {expected[4], expected[0], expected[6], expected[2]})).durable());
  EXPECT_TRUE(append_and_wait(*j, alias_batch("usr_x", {expected[5], expected[3], expected[1]})).durable());
  auto sorted = expected;
  std::sort(sorted.begin(), sorted.end(), [](const alias& l, const alias& r) { return l.key < r.key; });
  ASSERT_EQ(sorted, expected) << "the expected order is std::string's, which is bytewise";

  std::vector<alias> paged;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = j->read_aliases(after, 3);
    ASSERT_TRUE(page);
    paged.insert(paged.end(), page.value().begin(), page.value().end());
    if (page.value().size() < 3)
      break;
    after = page.value().back().key;
  }
  EXPECT_EQ(paged, expected);

  // after_key is exclusive, and need not be a stored key.
  auto from_ref_a = j->read_aliases("ref:a", 2);
  ASSERT_TRUE(from_ref_a);
  EXPECT_EQ(from_ref_a.value(), (std::vector<alias>{expected[4], expected[5]}));
  auto from_gap = j->read_aliases("ref:aa", 1);
  ASSERT_TRUE(from_gap);
  EXPECT_EQ(from_gap.value(), std::vector<alias>{expected[4]});
  EXPECT_TRUE(j->read_aliases(expected.back().key, 10).value().empty());
  EXPECT_TRUE(j->read_aliases("", 0).value().empty());
  // A default-constructed view (null data) starts at the beginning like "".
  EXPECT_EQ(j->read_aliases(std::string_view{}, 100).value(), expected);
}

TEST_F(SqliteJournal, ReadAliasesReturnsAtMostTheReadLimit) {
  options_.queue_batches = 1024;
  auto j = open();
  ASSERT_TRUE(j);
  constexpr std::size_t total = core::limits::journal_read_aliases_max + 3;
  constexpr std::size_t per_batch = core::limits::journal_batch_aliases_max;
  constexpr std::size_t batches = (total + per_batch - 1) / per_batch;
  auto const key_of = [](std::size_t i) {
    char key[32];
    std::snprintf(key, sizeof key, "ref:%08zu", i); // zero-padded: key order is number order
    return std::string(key);
  };
  outcome_board board(batches);
  for (std::size_t b = 0; b < batches; ++b) {
    append_batch batch;
    batch.stream = "usr_many";
    for (std::size_t i = b * per_batch; i < std::min(total, (b + 1) * per_batch); ++i)
      batch.aliases.push_back({key_of(i), "usr_many"});
    j->append(std::move(batch), board.slot(b));
  }
  ASSERT_TRUE(board.wait_all());
  for (std::size_t b = 0; b < batches; ++b)
    ASSERT_TRUE(board.at(b)->durable()) << b;

  auto first = j->read_aliases("", std::numeric_limits<std::uint32_t>::max());
  ASSERT_TRUE(first);
  ASSERT_EQ(first.value().size(), core::limits::journal_read_aliases_max);
  EXPECT_EQ(first.value().front().key, key_of(0));
  EXPECT_EQ(first.value().back().key, key_of(core::limits::journal_read_aliases_max - 1));
  auto rest = j->read_aliases(first.value().back().key, std::numeric_limits<std::uint32_t>::max());
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 3u);
  EXPECT_EQ(rest.value().front().key, key_of(core::limits::journal_read_aliases_max));
  EXPECT_EQ(rest.value().back().key, key_of(total - 1));
}

TEST_F(SqliteJournal, MalformedAliasesAreRefusedBeforeQueueing) {
  auto j = open();
  ASSERT_TRUE(j);
  auto const refused_at_once = [&](append_batch batch) {
    std::optional<append_outcome> seen;
    j->append(std::move(batch), [&seen](append_outcome outcome) { seen = outcome; });
    EXPECT_TRUE(seen.has_value()) << "a malformed batch must be answered before append returns";
    return seen && seen->error == journal_error::invalid_request;
  };
  EXPECT_TRUE(refused_at_once(alias_batch("usr_a", {{"", "usr_a"}})));
  EXPECT_TRUE(refused_at_once(alias_batch("usr_a", {{std::string(alias_key_bytes_max + 1, 'k'), "usr_a"}})));
  EXPECT_TRUE(refused_at_once(alias_batch("usr_a", {{"ptk:ok", ""}})));
  // The batch's own stream is still required, even when it holds only aliases.
  EXPECT_TRUE(refused_at_once(alias_batch("", {{"ptk:ok", "usr_a"}})));
  std::vector<alias> too_many;
  for (std::size_t i = 0; i <= core::limits::journal_batch_aliases_max; ++i)
    too_many.push_back({"ref:" + std::to_string(i), "usr_a"});
  EXPECT_TRUE(refused_at_once(alias_batch("usr_a", too_many)));
  // One bad alias refuses the events that come with it.
  stream_head a{"usr_a"};
  auto with_events = next_batch(a);
  with_events.aliases.push_back({"", "usr_a"});
  EXPECT_TRUE(refused_at_once(std::move(with_events)));
  EXPECT_EQ(j->events_durable(), 0u);
  EXPECT_EQ(stream_of(*j, "ptk:ok"), std::nullopt);

  // The bounds themselves are accepted.
  too_many.pop_back();
  auto const longest = std::string(alias_key_bytes_max, 'k');
  too_many.back() = {longest, "usr_a"};
  EXPECT_TRUE(append_and_wait(*j, alias_batch("usr_a", too_many)).durable());
  EXPECT_EQ(stream_of(*j, longest), "usr_a");
  EXPECT_EQ(j->read_aliases("", 1000).value().size(), core::limits::journal_batch_aliases_max);
}

// --- Webhook outbox ---------------------------------------------------------------------------------

/// A webhook of `type` about `stream`, with a payload that names its id.
outbox_entry webhook(std::string id, std::string stream = "usr_a", std::string type = "budget.threshold",
                     std::int64_t created_at = test_time) {
  outbox_entry entry;
  entry.n = 0;
  entry.payload = R"({"budget":"bud_1","threshold_percent":80,"for":")" + id + R"("})";
  entry.id = std::move(id);
  entry.stream = std::move(stream);
  entry.type = std::move(type);
  entry.created_at = created_at;
  return entry;
}

/// An outbox-only batch written by `stream`'s actor.
append_batch outbox_batch(std::string stream, std::vector<outbox_entry> entries) {
  append_batch batch;
  batch.stream = std::move(stream);
  batch.outbox = std::move(entries);
  return batch;
}

/// The whole pending outbox, read page by page as a dispatcher would.
std::vector<outbox_entry> whole_outbox(journal& j, std::uint32_t page_size = 1000) {
  std::vector<outbox_entry> all;
  std::uint64_t after = 0;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = j.read_outbox(after, page_size);
    EXPECT_TRUE(page);
    if (!page)
      break;
    all.insert(all.end(), page.value().begin(), page.value().end());
    if (page.value().size() < page_size)
      break;
    after = page.value().back().n;
  }
  return all;
}

std::vector<std::string> ids_of(const std::vector<outbox_entry>& entries) {
  std::vector<std::string> ids;
  for (auto const& entry : entries)
    ids.push_back(entry.id);
  return ids;
}

/// `expected` as the journal returns it: with the n it assigned.
std::vector<outbox_entry> numbered(std::vector<outbox_entry> expected, std::vector<std::uint64_t> n) {
  EXPECT_EQ(expected.size(), n.size());
  for (std::size_t i = 0; i < expected.size() && i < n.size(); ++i)
    expected[i].n = n[i];
  return expected;
}

append_outcome complete_and_wait(journal& j, std::vector<std::string> ids) {
  std::promise<append_outcome> done;
  auto future = done.get_future();
  j.complete_outbox(std::move(ids), [&done](append_outcome outcome) { done.set_value(outcome); });
  EXPECT_EQ(future.wait_for(callback_deadline), std::future_status::ready);
  return future.get();
}

TEST_F(SqliteJournal, OutboxStoredWithItsEventsIsReadBackInCommitOrderAfterReopen) {
  stream_head a{"usr_a"};
  stream_head b{"usr_b"};
  std::vector<outbox_entry> expected;
  {
    auto j = open();
    ASSERT_TRUE(j);
    EXPECT_TRUE(j->read_outbox(0, 100).value().empty());
    auto first = next_batch(a, 2);
    first.outbox.push_back(webhook("evt_a1", "usr_a", "budget.threshold"));
    first.outbox.push_back(webhook("evt_a2", "usr_a", "kill.activated", test_time + 1));
    first.outbox[0].n = 77; // n is the journal's to assign: ignored on input
    expected.insert(expected.end(), first.outbox.begin(), first.outbox.end());
    EXPECT_TRUE(append_and_wait(*j, std::move(first)).durable());
    auto second = next_batch(b);
    // Ids sort before the earlier ones: the order is n, that is commit order, not id order.
    second.outbox.push_back(webhook("evt_0b", "usr_b"));
    expected.push_back(second.outbox[0]);
    EXPECT_TRUE(append_and_wait(*j, std::move(second)).durable());
    auto third = next_batch(a);
    third.outbox.push_back(webhook("evt_a3"));
    expected.push_back(third.outbox[0]);
    EXPECT_TRUE(append_and_wait(*j, std::move(third)).durable());
    EXPECT_EQ(j->read_outbox(0, 100).value(), numbered(expected, {1, 2, 3, 4}));
  }
  auto j = open();
  ASSERT_TRUE(j);
  auto stored = j->read_outbox(0, 100);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored.value(), numbered(expected, {1, 2, 3, 4}));
  // The events they came with are there too: one transaction each.
  EXPECT_EQ(j->read_stream("usr_a", 1, 10).value().size(), 3u);
  EXPECT_EQ(j->read_stream("usr_b", 1, 10).value().size(), 1u);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM outbox"), 4);
}

TEST_F(SqliteJournal, ReadOutboxPagesAfterN) {
  auto j = open();
  ASSERT_TRUE(j);
  std::vector<outbox_entry> expected;
  for (int b = 0; b < 3; ++b) {
    std::vector<outbox_entry> entries;
    for (int i = 0; i < 3 - b; ++i)
      entries.push_back(webhook("evt_" + std::to_string(b) + "_" + std::to_string(i)));
    expected.insert(expected.end(), entries.begin(), entries.end());
    EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", std::move(entries))).durable());
  }
  expected = numbered(expected, {1, 2, 3, 4, 5, 6});

  std::vector<outbox_entry> paged;
  std::uint64_t after = 0;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto page = j->read_outbox(after, 4);
    ASSERT_TRUE(page);
    paged.insert(paged.end(), page.value().begin(), page.value().end());
    if (page.value().size() < 4)
      break;
    after = page.value().back().n;
  }
  EXPECT_EQ(pages, 1) << "a page of 4, then the short last page of 2";
  EXPECT_EQ(paged, expected);

  // after_n is exclusive and need not be a pending n.
  EXPECT_EQ(j->read_outbox(2, 2).value(), (std::vector<outbox_entry>{expected[2], expected[3]}));
  ASSERT_TRUE(append_and_wait(*j, outbox_batch("usr_a", {webhook("evt_late")})).durable() &&
              complete_and_wait(*j, {expected[2].id}).durable());
  auto const after_gap = j->read_outbox(2, 2);
  ASSERT_TRUE(after_gap);
  EXPECT_EQ(after_gap.value(), (std::vector<outbox_entry>{expected[3], expected[4]}));
  // An entry committed after a page was read follows it.
  auto const tail = j->read_outbox(expected.back().n, 10);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail.value().size(), 1u);
  EXPECT_EQ(tail.value()[0].id, "evt_late");
  EXPECT_GT(tail.value()[0].n, expected.back().n);
  EXPECT_TRUE(j->read_outbox(tail.value()[0].n, 10).value().empty());
  EXPECT_TRUE(j->read_outbox(0, 0).value().empty());
  EXPECT_TRUE(j->read_outbox(std::numeric_limits<std::uint64_t>::max(), 10).value().empty());
  EXPECT_TRUE(j->read_outbox(static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), 10).value().empty());
}

TEST_F(SqliteJournal, ReadOutboxReturnsAtMostTheReadLimit) {
  options_.queue_batches = 1024;
  auto j = open();
  ASSERT_TRUE(j);
  constexpr std::size_t total = core::limits::journal_read_outbox_max + 3;
  constexpr std::size_t per_batch = core::limits::journal_batch_outbox_max;
  constexpr std::size_t batches = (total + per_batch - 1) / per_batch;
  outcome_board board(batches);
  for (std::size_t b = 0; b < batches; ++b) {
    std::vector<outbox_entry> entries;
    for (std::size_t i = b * per_batch; i < std::min(total, (b + 1) * per_batch); ++i)
      entries.push_back(webhook("evt_" + std::to_string(i)));
    j->append(outbox_batch("usr_many", std::move(entries)), board.slot(b));
  }
  ASSERT_TRUE(board.wait_all());
  for (std::size_t b = 0; b < batches; ++b)
    ASSERT_TRUE(board.at(b)->durable()) << b;

  auto first = j->read_outbox(0, std::numeric_limits<std::uint32_t>::max());
  ASSERT_TRUE(first);
  ASSERT_EQ(first.value().size(), core::limits::journal_read_outbox_max);
  EXPECT_EQ(first.value().front().id, "evt_0");
  EXPECT_EQ(first.value().back().id, "evt_" + std::to_string(core::limits::journal_read_outbox_max - 1));
  auto rest = j->read_outbox(first.value().back().n, std::numeric_limits<std::uint32_t>::max());
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 3u);
  EXPECT_EQ(rest.value().back().id, "evt_" + std::to_string(total - 1));
}

TEST_F(SqliteJournal, CompleteOutboxRemovesOnlyTheNamedEntriesDurably) {
  std::vector<outbox_entry> expected;
  {
    auto j = open();
    ASSERT_TRUE(j);
    std::vector<outbox_entry> entries = {webhook("evt_1"), webhook("evt_2"), webhook("evt_3"), webhook("evt_4")};
    expected = numbered(entries, {1, 2, 3, 4});
    EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", std::move(entries))).durable());
    auto const commits_before = j->commits();
    // Unknown ids (never stored, or completed already) are ignored, not an error.
    EXPECT_TRUE(complete_and_wait(*j, {"evt_4", "evt_unknown", "evt_2", "evt_4"}).durable());
    EXPECT_EQ(j->read_outbox(0, 100).value(), (std::vector<outbox_entry>{expected[0], expected[2]}));
    EXPECT_EQ(j->outbox_completed(), 2u);
    EXPECT_EQ(j->commits(), commits_before + 1);
    // Nothing to delete: answered durable, and no write happened.
    EXPECT_TRUE(complete_and_wait(*j, {"evt_2"}).durable());
    EXPECT_TRUE(complete_and_wait(*j, {}).durable());
    EXPECT_EQ(j->commits(), commits_before + 1);
    EXPECT_EQ(j->outbox_completed(), 2u);
    EXPECT_EQ(j->batches_durable(), 1u) << "a completion is not a batch";
  }
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->read_outbox(0, 100).value(), (std::vector<outbox_entry>{expected[0], expected[2]}));
  // n is never reused, not even the largest n after it was deleted.
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", {webhook("evt_5")})).durable());
  EXPECT_EQ(j->read_outbox(expected[2].n, 10).value().at(0).n, 5u);
  // Only an id currently in the outbox is taken: a completed id may be stored again, with a new n.
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", {webhook("evt_2")})).durable());
  EXPECT_EQ(ids_of(whole_outbox(*j)), (std::vector<std::string>{"evt_1", "evt_3", "evt_5", "evt_2"}));
  EXPECT_EQ(whole_outbox(*j).back().n, 6u);
  EXPECT_TRUE(complete_and_wait(*j, {"evt_1", "evt_3", "evt_5", "evt_2"}).durable());
  EXPECT_TRUE(whole_outbox(*j).empty());
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM outbox"), 0);
}

TEST_F(SqliteJournal, CompleteOutboxGoesThroughTheAppendQueueInOrder) {
  options_.queue_batches = 4;
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", {webhook("evt_old")})).durable());
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE"); // the writer stalls on its next transaction

  // Queued behind the stalled writer, in this order: the new entry is stored, then completed; the
  // completion also names evt_after, which is appended only after it and so must stay.
  outcome_board board(3);
  j->append(outbox_batch("usr_a", {webhook("evt_new")}), board.slot(0));
  j->complete_outbox({"evt_new", "evt_old", "evt_after"}, board.slot(1));
  j->append(outbox_batch("usr_a", {webhook("evt_after")}), board.slot(2));
  EXPECT_EQ(board.answered(), 0u) << "a completion waits for the writer like an append";
  // The queue (4) fills up behind the group the stalled writer holds (some of the three above):
  // a completion is then refused at once, like an append.
  std::optional<append_outcome> refused;
  for (int i = 0; i < 8 && !refused; ++i)
    j->complete_outbox({"evt_x" + std::to_string(i)}, [&refused](append_outcome outcome) {
      if (!outcome.durable())
        refused = outcome;
    });
  ASSERT_TRUE(refused.has_value()) << "a full queue must answer at once";
  EXPECT_EQ(refused->error, journal_error::overloaded);
  EXPECT_GE(j->overloads(), 1u);

  blocker.exec("COMMIT");
  ASSERT_TRUE(board.wait_all());
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(board.at(i)->durable()) << i;
  EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_after"});
  EXPECT_EQ(j->outbox_completed(), 2u);

  j->stop();
  EXPECT_EQ(complete_and_wait(*j, {"evt_after"}).error, journal_error::stopped);
  EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_after"});
}

TEST_F(SqliteJournal, DuplicateOutboxIdFailsOnlyItsBatch) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  auto first = next_batch(a);
  first.outbox.push_back(webhook("evt_taken"));
  EXPECT_TRUE(append_and_wait(*j, std::move(first)).durable());
  auto const commits_before = j->commits();

  // As in ConflictFailsOnlyThatBatch...: hold the write lock so that the batches below are
  // stored as one group when it is released.
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE");

  stream_head sentinel{"usr_sentinel"};
  stream_head b{"usr_b"};
  stream_head c{"usr_c"};
  stream_head d{"usr_d"};
  outcome_board board(6);
  j->append(next_batch(sentinel), board.slot(0));
  // Events, an idempotency record, an alias and a fresh webhook are written before the taken id:
  // all of them must be taken back out.
  auto clash = next_batch(b, 2);
  clash.idempotency.push_back(make_record("key_b"));
  clash.aliases.push_back({"ptk:b", "usr_b"});
  clash.outbox.push_back(webhook("evt_fresh_b", "usr_b"));
  clash.outbox.push_back(webhook("evt_taken", "usr_b"));
  j->append(std::move(clash), board.slot(1));
  auto fine = next_batch(c);
  fine.outbox.push_back(webhook("evt_c", "usr_c"));
  j->append(std::move(fine), board.slot(2));
  // Two batches of the same group claim one new id: the first wins, the second conflicts with a
  // row that is not even committed yet.
  j->append(outbox_batch("usr_d", {webhook("evt_new", "usr_d")}), board.slot(3));
  auto second_claim = next_batch(d);
  second_claim.outbox.push_back(webhook("evt_new", "usr_d"));
  j->append(std::move(second_claim), board.slot(4));
  // The same id twice in one batch.
  j->append(outbox_batch("usr_e", {webhook("evt_twice", "usr_e"), webhook("evt_twice", "usr_e")}), board.slot(5));
  EXPECT_EQ(board.answered(), 0u);
  blocker.exec("COMMIT");

  ASSERT_TRUE(board.wait_all());
  EXPECT_TRUE(board.at(0)->durable());
  EXPECT_EQ(board.at(1)->error, journal_error::conflict);
  EXPECT_TRUE(board.at(2)->durable());
  EXPECT_TRUE(board.at(3)->durable());
  EXPECT_EQ(board.at(4)->error, journal_error::conflict);
  EXPECT_EQ(board.at(5)->error, journal_error::conflict);
  EXPECT_LE(j->commits() - commits_before, 2u);
  EXPECT_EQ(j->conflicts(), 3u);

  EXPECT_TRUE(j->read_stream("usr_b", 1, 10).value().empty());
  EXPECT_FALSE(j->find_idempotency("key_b").value().has_value());
  EXPECT_EQ(stream_of(*j, "ptk:b"), std::nullopt);
  EXPECT_TRUE(j->read_stream("usr_d", 1, 10).value().empty());
  EXPECT_EQ(j->read_stream("usr_c", 1, 10).value().size(), 1u);
  auto const pending = whole_outbox(*j);
  EXPECT_EQ(ids_of(pending), (std::vector<std::string>{"evt_taken", "evt_c", "evt_new"}));
  // The taken id still holds the first writer's webhook.
  EXPECT_EQ(pending.at(0).stream, "usr_a");
  EXPECT_EQ(pending.at(2).stream, "usr_d");
}

TEST_F(SqliteJournal, BatchOfOnlyOutboxEntriesIsStored) {
  auto j = open();
  ASSERT_TRUE(j);
  // The webhook may concern another stream than the batch's own.
  auto const entry = webhook("evt_kill", "usr_b", "kill.activated");
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_dir", {entry})).durable());
  EXPECT_EQ(j->batches_durable(), 1u);
  EXPECT_EQ(j->events_durable(), 0u);
  EXPECT_EQ(j->read_outbox(0, 10).value(), numbered({entry}, {1}));
  EXPECT_TRUE(j->read_stream("usr_dir", 1, 10).value().empty());
}

TEST_F(SqliteJournal, MalformedOutboxEntriesAreRefusedBeforeQueueing) {
  auto j = open();
  ASSERT_TRUE(j);
  auto const refused_at_once = [&](append_batch batch) {
    std::optional<append_outcome> seen;
    j->append(std::move(batch), [&seen](append_outcome outcome) { seen = outcome; });
    EXPECT_TRUE(seen.has_value()) << "a malformed batch must be answered before append returns";
    return seen && seen->error == journal_error::invalid_request;
  };
  auto const with = [](auto change) {
    auto entry = webhook("evt_ok");
    change(entry);
    return outbox_batch("usr_a", {entry});
  };
  EXPECT_TRUE(refused_at_once(with([](outbox_entry& e) { e.id.clear(); })));
  EXPECT_TRUE(refused_at_once(with([](outbox_entry& e) { e.id = std::string(outbox_id_bytes_max + 1, 'e'); })));
  EXPECT_TRUE(refused_at_once(with([](outbox_entry& e) { e.type.clear(); })));
  EXPECT_TRUE(refused_at_once(with([](outbox_entry& e) { e.type = std::string(outbox_type_bytes_max + 1, 't'); })));
  EXPECT_TRUE(
    refused_at_once(with([](outbox_entry& e) { e.payload = std::string(outbox_payload_bytes_max + 1, 'p'); })));
  // The batch's own stream is still required, even when it holds only outbox entries.
  EXPECT_TRUE(refused_at_once(outbox_batch("", {webhook("evt_ok")})));
  std::vector<outbox_entry> too_many;
  for (std::size_t i = 0; i <= core::limits::journal_batch_outbox_max; ++i)
    too_many.push_back(webhook("evt_" + std::to_string(i)));
  EXPECT_TRUE(refused_at_once(outbox_batch("usr_a", too_many)));
  // One bad entry refuses the events that come with it.
  stream_head a{"usr_a"};
  auto with_events = next_batch(a);
  with_events.outbox.push_back(webhook(""));
  EXPECT_TRUE(refused_at_once(std::move(with_events)));
  EXPECT_EQ(j->events_durable(), 0u);
  EXPECT_EQ(j->batches_durable(), 0u);

  // complete_outbox refuses what read_outbox could never have returned, and too many ids.
  auto const completion_refused_at_once = [&](std::vector<std::string> ids) {
    std::optional<append_outcome> seen;
    j->complete_outbox(std::move(ids), [&seen](append_outcome outcome) { seen = outcome; });
    EXPECT_TRUE(seen.has_value()) << "a malformed completion must be answered before complete_outbox returns";
    return seen && seen->error == journal_error::invalid_request;
  };
  EXPECT_TRUE(completion_refused_at_once({"evt_ok", ""}));
  EXPECT_TRUE(completion_refused_at_once({std::string(outbox_id_bytes_max + 1, 'e')}));
  EXPECT_TRUE(completion_refused_at_once(
    std::vector<std::string>(core::limits::journal_read_outbox_max + 1, "evt_ok")));
  EXPECT_TRUE(j->read_outbox(0, 100).value().empty());

  // The bounds themselves are accepted.
  too_many.pop_back();
  too_many.back().id = std::string(outbox_id_bytes_max, 'e');
  too_many.back().type = std::string(outbox_type_bytes_max, 't');
  too_many.back().payload = std::string(outbox_payload_bytes_max, 'p');
  auto const largest = too_many.back();
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", too_many)).durable());
  auto const stored = j->read_outbox(0, 100);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored.value().size(), core::limits::journal_batch_outbox_max);
  EXPECT_EQ(stored.value().back(), numbered({largest}, {core::limits::journal_batch_outbox_max}).at(0));
  EXPECT_TRUE(complete_and_wait(*j, std::vector<std::string>(core::limits::journal_read_outbox_max, largest.id)).durable());
  EXPECT_EQ(j->read_outbox(0, 100).value().size(), core::limits::journal_batch_outbox_max - 1);
}

TEST_F(SqliteJournal, UndeliveredWebhooksExpireAfterTheOutboxRetention) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_TRUE(append_and_wait(*j, outbox_batch("usr_a", {webhook("evt_old", "usr_a",
                                                                  "budget.threshold", test_time),
                                                          webhook("evt_new", "usr_a",
                                                                  "budget.threshold",
                                                                  test_time + 86'400)}))
                .durable());
  auto purge = [&] {
    std::promise<append_outcome> done;
    j->purge_idempotency([&done](append_outcome outcome) { done.set_value(outcome); });
    return done.get_future().get().durable();
  };
  now_ = test_time + options_.outbox_retention_s; // just inside: both stay
  ASSERT_TRUE(purge());
  EXPECT_EQ(ids_of(whole_outbox(*j)), (std::vector<std::string>{"evt_old", "evt_new"}));
  now_ = test_time + options_.outbox_retention_s + 1;
  ASSERT_TRUE(purge());
  EXPECT_EQ(ids_of(whole_outbox(*j)), (std::vector<std::string>{"evt_new"}));
  EXPECT_EQ(j->outbox_expired(), 1u);
  EXPECT_EQ(j->outbox_completed(), 0u) << "expired is not delivered";
}

// --- Vault: sealed blobs -----------------------------------------------------------------------------

/// A blob as the vault would hand it over: `core::seal` of `plaintext` under `key` for `owner`,
/// with a nonce from a fixed pattern so that the test is reproducible.
std::string sealed_blob(std::string_view plaintext, const core::vault_key& key, std::string_view owner) {
  auto const sealed = core::seal(plaintext, key, core::make_associated_data({owner, "cred_1"}),
                                 [](std::span<std::uint8_t> out) {
                                   for (std::size_t i = 0; i < out.size(); ++i)
                                     out[i] = static_cast<std::uint8_t>(i * 37);
                                   return true;
                                 });
  EXPECT_TRUE(sealed);
  return std::string(sealed.blob.begin(), sealed.blob.end());
}

/// Arbitrary binary bytes: every byte value, NULs first and last.
std::string binary_blob() {
  std::string blob(1, '\0');
  for (int i = 0; i < 256; ++i)
    blob += static_cast<char>(i);
  blob += '\0';
  return blob;
}

append_batch sealed_batch(std::string stream, std::vector<sealed_entry> sealed, std::vector<std::string> unsealed = {}) {
  append_batch batch;
  batch.stream = std::move(stream);
  batch.sealed = std::move(sealed);
  batch.unsealed = std::move(unsealed);
  return batch;
}

/// What `read_sealed` answers for `ref`, or "<error>" when it fails.
std::optional<std::string> blob_of(journal& j, std::string_view ref) {
  auto found = j.read_sealed(ref);
  EXPECT_TRUE(found) << ref;
  return found ? found.value() : std::optional<std::string>("<error>");
}

TEST_F(SqliteJournal, SealedBlobStoredWithItsEventsIsReadAfterReopen) {
  std::array<std::uint8_t, core::vault_key_bytes> key_bytes{};
  key_bytes.fill(0x42);
  core::vault_key const key(key_bytes);
  auto const credential = sealed_blob(R"({"api_key":"sk_live_123"})", key, "usr_a");
  auto const binary = binary_blob();
  ASSERT_EQ(binary.size(), 258u);
  stream_head a{"usr_a"};
  {
    auto j = open();
    ASSERT_TRUE(j);
    // The event holds only the reference; the blob travels beside it in the same batch.
    auto batch = next_batch(a, 2);
    batch.sealed.push_back({"vlt_cred", "usr_a", credential});
    batch.sealed.push_back({"vlt_binary", "usr_a", binary});
    EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());
    EXPECT_EQ(blob_of(*j, "vlt_cred"), credential);
  }
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->read_stream("usr_a", 1, 10).value().size(), 2u);
  // Stored exactly as given: every byte, NULs included, and the real blob still opens.
  EXPECT_EQ(blob_of(*j, "vlt_binary"), binary);
  auto const stored = blob_of(*j, "vlt_cred");
  ASSERT_TRUE(stored);
  ASSERT_EQ(*stored, credential);
  auto const opened = core::open(std::span(reinterpret_cast<const std::uint8_t*>(stored->data()), stored->size()),
                                 std::span(&key, 1), core::make_associated_data({"usr_a", "cred_1"}));
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened.plaintext.view(), R"({"api_key":"sk_live_123"})");
  EXPECT_EQ(blob_of(*j, "vlt_other"), std::nullopt);
  EXPECT_EQ(blob_of(*j, "vlt_cre"), std::nullopt); // a prefix is not a match
  // Refs that can never be stored are simply not found: they may come from a client.
  EXPECT_EQ(blob_of(*j, ""), std::nullopt);
  EXPECT_EQ(blob_of(*j, std::string(sealed_ref_bytes_max + 1, 'r')), std::nullopt);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM vault WHERE stream = 'usr_a' AND typeof(blob) = 'blob'"), 2);
  EXPECT_EQ(db.scalar("SELECT length(blob) FROM vault WHERE ref = 'vlt_binary'"), 258);
}

TEST_F(SqliteJournal, DuplicateSealedRefFailsOnlyItsBatch) {
  auto j = open();
  ASSERT_TRUE(j);
  stream_head a{"usr_a"};
  auto first = next_batch(a);
  first.sealed.push_back({"vlt_taken", "usr_a", "first blob"});
  first.sealed.push_back({"vlt_keep", "usr_a", "kept blob"});
  EXPECT_TRUE(append_and_wait(*j, std::move(first)).durable());

  // Hold the write lock so that the batches below are stored as one group when it is released.
  raw_db blocker(options_.path);
  blocker.exec("BEGIN IMMEDIATE");

  stream_head b{"usr_b"};
  stream_head c{"usr_c"};
  outcome_board board(5);
  // Events, an idempotency record, an alias, a webhook, a fresh blob and an unseal are all written
  // before the taken ref: all of them must be taken back out.
  auto clash = next_batch(b, 2);
  clash.idempotency.push_back(make_record("key_b"));
  clash.aliases.push_back({"ptk:b", "usr_b"});
  clash.outbox.push_back(webhook("evt_b", "usr_b"));
  clash.unsealed.push_back("vlt_keep");
  clash.sealed.push_back({"vlt_fresh_b", "usr_b", "fresh"});
  clash.sealed.push_back({"vlt_taken", "usr_b", "second blob"});
  j->append(std::move(clash), board.slot(0));
  auto fine = next_batch(c);
  fine.sealed.push_back({"vlt_c", "usr_c", "c blob"});
  j->append(std::move(fine), board.slot(1));
  // Two batches of the same group claim one new ref: the first wins, the second conflicts with a
  // row that is not even committed yet.
  j->append(sealed_batch("usr_d", {{"vlt_new", "usr_d", "d blob"}}), board.slot(2));
  j->append(sealed_batch("usr_e", {{"vlt_new", "usr_e", "e blob"}}), board.slot(3));
  // The same ref twice in one batch.
  j->append(sealed_batch("usr_f", {{"vlt_twice", "usr_f", "1"}, {"vlt_twice", "usr_f", "2"}}), board.slot(4));
  EXPECT_EQ(board.answered(), 0u);
  blocker.exec("COMMIT");

  ASSERT_TRUE(board.wait_all());
  EXPECT_EQ(board.at(0)->error, journal_error::conflict);
  EXPECT_TRUE(board.at(1)->durable());
  EXPECT_TRUE(board.at(2)->durable());
  EXPECT_EQ(board.at(3)->error, journal_error::conflict);
  EXPECT_EQ(board.at(4)->error, journal_error::conflict);
  EXPECT_EQ(j->conflicts(), 3u);

  EXPECT_TRUE(j->read_stream("usr_b", 1, 10).value().empty());
  EXPECT_FALSE(j->find_idempotency("key_b").value().has_value());
  EXPECT_EQ(stream_of(*j, "ptk:b"), std::nullopt);
  EXPECT_TRUE(j->read_outbox(0, 10).value().empty());
  EXPECT_EQ(blob_of(*j, "vlt_fresh_b"), std::nullopt);
  EXPECT_EQ(blob_of(*j, "vlt_keep"), "kept blob"); // the failed batch's unseal is undone too
  EXPECT_EQ(blob_of(*j, "vlt_taken"), "first blob"); // a taken ref is never overwritten
  EXPECT_EQ(blob_of(*j, "vlt_c"), "c blob");
  EXPECT_EQ(j->read_stream("usr_c", 1, 10).value().size(), 1u);
  EXPECT_EQ(blob_of(*j, "vlt_new"), "d blob");
  EXPECT_EQ(blob_of(*j, "vlt_twice"), std::nullopt);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM vault"), 4);
}

TEST_F(SqliteJournal, UnsealedRemovesTheBlobDurably) {
  stream_head a{"usr_a"};
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto batch = next_batch(a);
    batch.sealed = {{"vlt_1", "usr_a", "one"}, {"vlt_2", "usr_a", "two"}};
    EXPECT_TRUE(append_and_wait(*j, std::move(batch)).durable());
    // The removal travels with its event; a ref that is not stored is ignored.
    auto removal = next_batch(a);
    removal.unsealed = {"vlt_1", "vlt_missing"};
    EXPECT_TRUE(append_and_wait(*j, std::move(removal)).durable());
    EXPECT_EQ(blob_of(*j, "vlt_1"), std::nullopt);
    EXPECT_EQ(blob_of(*j, "vlt_2"), "two");
    // Sealing and unsealing one ref in a batch leaves it unsealed (unsealed applies after sealed).
    EXPECT_TRUE(append_and_wait(*j, sealed_batch("usr_a", {{"vlt_3", "usr_a", "three"}}, {"vlt_3"})).durable());
    EXPECT_EQ(blob_of(*j, "vlt_3"), std::nullopt);
    // A batch of only unseals is stored.
    EXPECT_TRUE(append_and_wait(*j, sealed_batch("usr_a", {}, {"vlt_2"})).durable());
    EXPECT_EQ(j->batches_durable(), 4u);
  }
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(blob_of(*j, "vlt_1"), std::nullopt);
  EXPECT_EQ(blob_of(*j, "vlt_2"), std::nullopt);
  EXPECT_EQ(j->read_stream("usr_a", 1, 10).value().size(), 2u);
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM vault"), 0);
}

TEST_F(SqliteJournal, MalformedSealedEntriesAreRefusedBeforeQueueing) {
  auto j = open();
  ASSERT_TRUE(j);
  auto const refused_at_once = [&](append_batch batch) {
    std::optional<append_outcome> seen;
    j->append(std::move(batch), [&seen](append_outcome outcome) { seen = outcome; });
    EXPECT_TRUE(seen.has_value()) << "a malformed batch must be answered before append returns";
    return seen && seen->error == journal_error::invalid_request;
  };
  auto const with = [](auto change) {
    sealed_entry entry{"vlt_ok", "usr_a", "blob"};
    change(entry);
    return sealed_batch("usr_a", {entry});
  };
  EXPECT_TRUE(refused_at_once(with([](sealed_entry& e) { e.ref.clear(); })));
  EXPECT_TRUE(refused_at_once(with([](sealed_entry& e) { e.ref = std::string(sealed_ref_bytes_max + 1, 'r'); })));
  EXPECT_TRUE(refused_at_once(with([](sealed_entry& e) { e.stream.clear(); })));
  EXPECT_TRUE(refused_at_once(with([](sealed_entry& e) { e.blob.clear(); })));
  EXPECT_TRUE(refused_at_once(with([](sealed_entry& e) { e.blob = std::string(sealed_blob_bytes_max + 1, 'b'); })));
  EXPECT_TRUE(refused_at_once(sealed_batch("usr_a", {}, {""})));
  EXPECT_TRUE(refused_at_once(sealed_batch("usr_a", {}, {std::string(sealed_ref_bytes_max + 1, 'r')})));
  // The batch's own stream is still required, even when it holds only blobs.
  EXPECT_TRUE(refused_at_once(sealed_batch("", {{"vlt_ok", "usr_a", "blob"}})));
  std::vector<sealed_entry> too_many;
  std::vector<std::string> too_many_refs;
  for (std::size_t i = 0; i <= journal_batch_sealed_max; ++i)
    too_many.push_back({"vlt_" + std::to_string(i), "usr_a", "blob"});
  for (std::size_t i = 0; i <= journal_batch_unsealed_max; ++i)
    too_many_refs.push_back("vlt_" + std::to_string(i));
  EXPECT_TRUE(refused_at_once(sealed_batch("usr_a", too_many)));
  EXPECT_TRUE(refused_at_once(sealed_batch("usr_a", {}, too_many_refs)));
  // One bad entry refuses the events that come with it.
  stream_head a{"usr_a"};
  auto with_events = next_batch(a);
  with_events.sealed.push_back({"vlt_ok", "usr_a", ""});
  EXPECT_TRUE(refused_at_once(std::move(with_events)));
  EXPECT_EQ(j->batches_durable(), 0u);

  // The bounds themselves are accepted, and the largest blob core::seal makes fits.
  static_assert(sealed_blob_bytes_max >= core::limits::sealed_plaintext_bytes_max + core::sealed_overhead_bytes);
  too_many.pop_back();
  too_many_refs.pop_back();
  too_many.back().ref = std::string(sealed_ref_bytes_max, 'r');
  too_many.back().blob = std::string(sealed_blob_bytes_max, 'b');
  EXPECT_TRUE(append_and_wait(*j, sealed_batch("usr_a", too_many)).durable());
  EXPECT_EQ(blob_of(*j, std::string(sealed_ref_bytes_max, 'r')), std::string(sealed_blob_bytes_max, 'b'));
  EXPECT_TRUE(append_and_wait(*j, sealed_batch("usr_a", {}, too_many_refs)).durable());
  EXPECT_EQ(blob_of(*j, "vlt_0"), std::nullopt);
  EXPECT_EQ(blob_of(*j, std::string(sealed_ref_bytes_max, 'r')), std::string(sealed_blob_bytes_max, 'b'));
}

/// Migration 1's SQL as it shipped: the schema of a file written by a version-1 binary.
constexpr const char* schema_v1_sql = R"sql(
  CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL);
  CREATE TABLE events (
    stream     TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (stream, seq)
  ) WITHOUT ROWID;
  CREATE TABLE snapshots (
    stream     TEXT    NOT NULL PRIMARY KEY,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    state      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE idempotency (
    scope_key     TEXT    NOT NULL PRIMARY KEY,
    fingerprint   BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    status        INTEGER NOT NULL,
    response_body BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_by_created_at ON idempotency (created_at);
  INSERT INTO schema_version (version, applied_at) VALUES (1, 0);
)sql";

std::string hex(std::span<const std::uint8_t> bytes) { return core::to_hex(bytes); }

TEST_F(SqliteJournal, FileOfSchemaVersion1IsMigratedKeepingItsHistory) {
  stream_head a{"usr_a"};
  auto const old_batch = next_batch(a, 2);
  {
    // A version-1 file with two events and an idempotency record, written without this binary.
    raw_db db(options_.path);
    db.exec(schema_v1_sql);
    for (auto const& e : old_batch.events)
      db.exec("INSERT INTO events VALUES ('" + e.stream + "', " + std::to_string(e.seq) + ", '" + e.type + "', '" +
              e.payload + "', " + std::to_string(e.created_at) + ", X'" + hex(e.hash) + "')");
    auto const record = make_record("key_old");
    db.exec("INSERT INTO idempotency VALUES ('key_old', X'" + hex(record.fingerprint) + "', 201, '" +
            record.response_body + "', " + std::to_string(test_time) + ")");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'aliases'"), 0);
  }
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto events = j->read_stream("usr_a", 1, 10);
    ASSERT_TRUE(events);
    ASSERT_EQ(events.value().size(), 2u);
    expect_same(events.value()[1], old_batch.events[1]);
    EXPECT_TRUE(j->find_idempotency("key_old").value().has_value());
    EXPECT_EQ(stream_of(*j, "ptk:new"), std::nullopt);
    EXPECT_TRUE(j->read_aliases("", 10).value().empty());
    // The old stream continues, now minting an alias.
    auto next = next_batch(a);
    next.aliases.push_back({"ptk:new", "usr_a"});
    EXPECT_TRUE(append_and_wait(*j, std::move(next)).durable());
    EXPECT_EQ(stream_of(*j, "ptk:new"), "usr_a");
  }
  {
    raw_db db(options_.path);
    EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), sqlite_journal::schema_version);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version"), sqlite_journal::schema_version);
    // Migration 1 is not run again (its row keeps the hand-written time); migrations 2 and 3 are
    // recorded.
    EXPECT_EQ(db.scalar("SELECT applied_at FROM schema_version WHERE version = 1"), 0);
    EXPECT_GT(db.scalar("SELECT applied_at FROM schema_version WHERE version = 2"), 0);
    EXPECT_GT(db.scalar("SELECT applied_at FROM schema_version WHERE version = 3"), 0);
  }
  auto j = open(); // and a second open migrates nothing
  ASSERT_TRUE(j);
  EXPECT_EQ(stream_of(*j, "ptk:new"), "usr_a");
  EXPECT_TRUE(j->verify_stream("usr_a").value().valid);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 3u);
}

/// Migration 2's SQL as it shipped, on top of version 1: the schema of a version-2 binary's file.
constexpr const char* schema_v2_sql = R"sql(
  CREATE TABLE aliases (
    key    TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
    stream TEXT NOT NULL CHECK (stream <> '')
  ) WITHOUT ROWID;
  INSERT INTO schema_version (version, applied_at) VALUES (2, 0);
)sql";

TEST_F(SqliteJournal, FileOfSchemaVersion2IsMigratedKeepingItsHistoryAndAliases) {
  stream_head a{"usr_a"};
  auto const old_batch = next_batch(a, 2);
  {
    // A version-2 file with two events and an alias, written without this binary.
    raw_db db(options_.path);
    db.exec(schema_v1_sql);
    db.exec(schema_v2_sql);
    for (auto const& e : old_batch.events)
      db.exec("INSERT INTO events VALUES ('" + e.stream + "', " + std::to_string(e.seq) + ", '" + e.type + "', '" +
              e.payload + "', " + std::to_string(e.created_at) + ", X'" + hex(e.hash) + "')");
    db.exec("INSERT INTO aliases VALUES ('ptk:old', 'usr_a')");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'outbox'"), 0);
  }
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto events = j->read_stream("usr_a", 1, 10);
    ASSERT_TRUE(events);
    ASSERT_EQ(events.value().size(), 2u);
    expect_same(events.value()[1], old_batch.events[1]);
    EXPECT_EQ(stream_of(*j, "ptk:old"), "usr_a");
    EXPECT_TRUE(j->read_outbox(0, 10).value().empty());
    // The old stream continues, now with a webhook.
    auto next = next_batch(a);
    next.outbox.push_back(webhook("evt_after_migration"));
    EXPECT_TRUE(append_and_wait(*j, std::move(next)).durable());
    EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_after_migration"});
  }
  {
    raw_db db(options_.path);
    EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), sqlite_journal::schema_version);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version"), sqlite_journal::schema_version);
    // Migrations 1 and 2 are not run again (their rows keep the hand-written time); 3 and later
    // are recorded.
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version WHERE version <= 2 AND applied_at = 0"), 2);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version WHERE version >= 3 AND applied_at > 0"),
              sqlite_journal::schema_version - 2);
  }
  auto j = open(); // and a second open migrates nothing
  ASSERT_TRUE(j);
  EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_after_migration"});
  EXPECT_EQ(stream_of(*j, "ptk:old"), "usr_a");
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 3u);
  EXPECT_TRUE(j->verify_stream("usr_a").value().valid);
}

/// Migration 3's SQL as it shipped, on top of version 2: the schema of a version-3 binary's file.
constexpr const char* schema_v3_sql = R"sql(
  CREATE TABLE outbox (
    n          INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    stream     TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
  );
  INSERT INTO schema_version (version, applied_at) VALUES (3, 0);
)sql";

TEST_F(SqliteJournal, FileOfSchemaVersion3IsMigratedKeepingItsHistoryAliasesAndOutbox) {
  stream_head a{"usr_a"};
  auto const old_batch = next_batch(a, 2);
  {
    // A version-3 file with two events, an alias and a pending webhook, written without this binary.
    raw_db db(options_.path);
    db.exec(schema_v1_sql);
    db.exec(schema_v2_sql);
    db.exec(schema_v3_sql);
    for (auto const& e : old_batch.events)
      db.exec("INSERT INTO events VALUES ('" + e.stream + "', " + std::to_string(e.seq) + ", '" + e.type + "', '" +
              e.payload + "', " + std::to_string(e.created_at) + ", X'" + hex(e.hash) + "')");
    db.exec("INSERT INTO aliases VALUES ('ptk:old', 'usr_a')");
    db.exec("INSERT INTO outbox (id, stream, type, payload, created_at) "
            "VALUES ('evt_old', 'usr_a', 'budget.threshold', '{}', " + std::to_string(test_time) + ")");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'vault'"), 0);
  }
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto events = j->read_stream("usr_a", 1, 10);
    ASSERT_TRUE(events);
    ASSERT_EQ(events.value().size(), 2u);
    expect_same(events.value()[1], old_batch.events[1]);
    EXPECT_EQ(stream_of(*j, "ptk:old"), "usr_a");
    EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_old"});
    EXPECT_EQ(blob_of(*j, "vlt_new"), std::nullopt);
    // The old stream continues, now sealing a credential.
    auto next = next_batch(a);
    next.sealed.push_back({"vlt_new", "usr_a", binary_blob()});
    EXPECT_TRUE(append_and_wait(*j, std::move(next)).durable());
    EXPECT_EQ(blob_of(*j, "vlt_new"), binary_blob());
  }
  {
    raw_db db(options_.path);
    EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), sqlite_journal::schema_version);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version"), sqlite_journal::schema_version);
    // Migrations 1 to 3 are not run again (their rows keep the hand-written time); 4 and later
    // are recorded.
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version WHERE version <= 3 AND applied_at = 0"), 3);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version WHERE version >= 4 AND applied_at > 0"),
              sqlite_journal::schema_version - 3);
  }
  auto j = open(); // and a second open migrates nothing
  ASSERT_TRUE(j);
  EXPECT_EQ(blob_of(*j, "vlt_new"), binary_blob());
  EXPECT_EQ(ids_of(whole_outbox(*j)), std::vector<std::string>{"evt_old"});
  EXPECT_EQ(stream_of(*j, "ptk:old"), "usr_a");
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 3u);
  EXPECT_TRUE(j->verify_stream("usr_a").value().valid);
}

/// Migration 4's SQL as it shipped, on top of version 3: the schema of a version-4 binary's file,
/// the last with events and idempotency records clustered on their keys.
constexpr const char* schema_v4_sql = R"sql(
  CREATE TABLE vault (
    ref    TEXT NOT NULL PRIMARY KEY CHECK (ref <> ''),
    stream TEXT NOT NULL CHECK (stream <> ''),
    blob   BLOB NOT NULL CHECK (length(blob) > 0)
  );
  INSERT INTO schema_version (version, applied_at) VALUES (4, 0);
)sql";

TEST_F(SqliteJournal, FileOfSchemaVersion4MovesToTheAppendOnlyLayoutKeepingHistoryAndKeys) {
  // Two streams written interleaved, as a busy journal writes them, and two idempotency records.
  stream_head a{"usr_a"};
  stream_head b{"usr_b"};
  std::vector<append_batch> old_batches;
  for (int i = 0; i < 3; ++i) {
    old_batches.push_back(next_batch(a, 2));
    old_batches.push_back(next_batch(b));
  }
  auto const old_record = make_record("key_old");
  auto const older_record = make_record("key_older");
  {
    raw_db db(options_.path);
    db.exec(schema_v1_sql);
    db.exec(schema_v2_sql);
    db.exec(schema_v3_sql);
    db.exec(schema_v4_sql);
    for (auto const& batch : old_batches)
      for (auto const& e : batch.events)
        db.exec("INSERT INTO events VALUES ('" + e.stream + "', " + std::to_string(e.seq) + ", '" + e.type +
                "', '" + e.payload + "', " + std::to_string(e.created_at) + ", X'" + hex(e.hash) + "')");
    db.exec("INSERT INTO idempotency VALUES ('key_old', X'" + hex(old_record.fingerprint) + "', 201, '" +
            old_record.response_body + "', " + std::to_string(test_time) + ")");
    db.exec("INSERT INTO idempotency VALUES ('key_older', X'" + hex(older_record.fingerprint) + "', 201, '" +
            older_record.response_body + "', " + std::to_string(test_time - 10) + ")");
  }
  std::vector<std::string> notices;
  options_.notice = [&notices](const std::string& line) { notices.push_back(line); };
  {
    auto j = open();
    ASSERT_TRUE(j);
    // The operator is told before and after: stewardd is silent meanwhile otherwise.
    ASSERT_EQ(notices.size(), 2u);
    EXPECT_NE(notices[0].find("migrating the journal from schema version 4 to 6"), std::string::npos) << notices[0];
    EXPECT_NE(notices[0].find(options_.path.string()), std::string::npos) << notices[0];
    EXPECT_NE(notices[1].find("journal migrated to schema version 6 in "), std::string::npos) << notices[1];
    auto events = j->read_stream("usr_a", 1, 10);
    ASSERT_TRUE(events);
    ASSERT_EQ(events.value().size(), 6u);
    for (std::size_t i = 0; i < 6; ++i)
      expect_same(events.value()[i], old_batches[2 * (i / 2)].events[i % 2]);
    EXPECT_EQ(j->verify_stream("usr_b").value().events, 3u);
    auto const found = j->find_idempotency("key_old").value();
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->fingerprint, old_record.fingerprint);
    EXPECT_EQ(found->response_body, old_record.response_body);
    EXPECT_TRUE(j->find_idempotency("key_older").value().has_value());

    // The keys still fence: a taken seq and a taken scope key are conflicts, and store nothing.
    stream_head stale{"usr_a", 5, events.value()[3].hash};
    EXPECT_EQ(append_and_wait(*j, next_batch(stale)).error, journal_error::conflict);
    auto const b_head = b;
    auto reused = next_batch(b);
    reused.idempotency.push_back(make_record("key_old"));
    EXPECT_EQ(append_and_wait(*j, std::move(reused)).error, journal_error::conflict);
    b = b_head;

    // And the streams go on.
    auto next = next_batch(b);
    next.idempotency.push_back(make_record("key_new"));
    EXPECT_TRUE(append_and_wait(*j, std::move(next)).durable());
    EXPECT_TRUE(append_and_wait(*j, next_batch(a)).durable());
    EXPECT_TRUE(j->find_idempotency("key_new").value().has_value());
  }
  {
    raw_db db(options_.path);
    EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), sqlite_journal::schema_version);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_version WHERE version <= 4 AND applied_at = 0"), 4);
    // The append-only layout: rowid tables, keyed by narrow indexes; the old tables are gone.
    EXPECT_EQ(db.scalar("SELECT count(*) FROM pragma_table_info('events') WHERE name = 'n' AND pk = 1"), 1);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM pragma_table_info('idempotency') WHERE name = 'n' AND pk = 1"), 1);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name IN ('events_by_stream', 'idempotency_by_key')"),
              2);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'idempotency_by_created_at'"), 0);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v5'"), 0);
    // The newest rows are the last ones: a commit appends.
    EXPECT_EQ(db.scalar("SELECT seq FROM events WHERE stream = 'usr_a' ORDER BY n DESC LIMIT 1"), 7);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 11);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM idempotency"), 3);
  }
  notices.clear();
  auto j = open(); // and a second open migrates nothing
  ASSERT_TRUE(j);
  EXPECT_TRUE(notices.empty()) << notices.front();
  EXPECT_TRUE(j->verify_stream("usr_a").value().valid);
  EXPECT_EQ(j->verify_stream("usr_a").value().events, 7u);
  EXPECT_TRUE(j->verify_stream("usr_b").value().valid);
  EXPECT_EQ(j->verify_stream("usr_b").value().events, 4u);
}

TEST_F(SqliteJournal, FileOfSchemaVersion5IsMigratedWithItsRecordsInTheOrderOfCreation) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    append_batch batch;
    batch.stream = "usr_a";
    batch.idempotency.push_back(make_record("key_a", test_time + 50));
    batch.idempotency.push_back(make_record("key_b", test_time + 100));
    ASSERT_TRUE(append_and_wait(*j, std::move(batch)).durable());
  }
  {
    // Version 5 differs from 6 by the index on created_at, and by records in any order: this
    // one was written after key_b by a writer that stored what it was given.
    raw_db db(options_.path);
    db.exec("CREATE INDEX idempotency_by_created_at ON idempotency (created_at)");
    db.exec("DELETE FROM schema_version WHERE version = 6");
    db.exec("INSERT INTO idempotency (scope_key, fingerprint, status, response_body, created_at) "
            "VALUES ('key_c', zeroblob(32), 201, '{}', " + std::to_string(test_time) + ")");
  }
  std::vector<std::string> notices;
  options_.notice = [&notices](const std::string& line) { notices.push_back(line); };
  {
    auto j = open();
    ASSERT_TRUE(j);
    ASSERT_EQ(notices.size(), 2u);
    EXPECT_NE(notices[0].find("from schema version 5 to 6"), std::string::npos) << notices[0];
    EXPECT_EQ(j->find_idempotency("key_a").value()->created_at, test_time + 50);
    EXPECT_EQ(j->find_idempotency("key_b").value()->created_at, test_time + 100);
    EXPECT_EQ(j->find_idempotency("key_c").value()->created_at, test_time + 100);

    // And the next record written is no older than the last one.
    append_batch next;
    next.stream = "usr_a";
    next.idempotency.push_back(make_record("key_d", test_time + 10));
    ASSERT_TRUE(append_and_wait(*j, std::move(next)).durable());
    EXPECT_EQ(j->find_idempotency("key_d").value()->created_at, test_time + 100);
  }
  raw_db db(options_.path);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'idempotency_by_created_at'"), 0);
  EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_version"), 6);
}

// --- Crash durability ------------------------------------------------------------------------------

constexpr int crash_streams = 4;

/// The child: appends to `crash_streams` streams from as many threads until it is killed, and
/// writes (stream index, seq) to `ack_fd` for every event the journal called durable.
[[noreturn]] void append_until_killed(const sqlite_journal_options& options, int ack_fd) {
  // Never outlive a parent that failed to kill us.
  ::alarm(60);
  std::string error;
  auto j = sqlite_journal::open(options, error);
  if (!j)
    ::_exit(2);
  std::vector<std::thread> threads;
  for (int s = 0; s < crash_streams; ++s)
    threads.emplace_back([&j, s, ack_fd] {
      stream_head head{"usr_crash" + std::to_string(s)};
      for (;;) {
        auto batch = next_batch(head, 1 + head.next_seq % 3);
        auto const last_seq = head.next_seq - 1;
        batch.idempotency.push_back(make_record("crash_" + std::to_string(s) + "_" + std::to_string(last_seq)));
        std::promise<append_outcome> done;
        auto future = done.get_future();
        j->append(std::move(batch), [&done](append_outcome outcome) { done.set_value(outcome); });
        if (!future.get().durable())
          ::_exit(3);
        std::uint64_t const ack[2] = {static_cast<std::uint64_t>(s), last_seq};
        if (::write(ack_fd, ack, sizeof ack) != static_cast<ssize_t>(sizeof ack))
          ::_exit(4);
      }
    });
  for (auto& thread : threads)
    thread.join();
  ::_exit(5);
}

TEST_F(SqliteJournal, AcknowledgedEventsSurviveSigkill) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto const child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    append_until_killed(options_, fds[1]);
  }
  ::close(fds[1]);

  std::map<std::uint64_t, std::uint64_t> acked; // stream index -> highest acknowledged seq
  std::size_t acks = 0;
  bool killed = false;
  constexpr std::size_t acks_before_kill = 300;
  for (;;) {
    std::uint64_t ack[2];
    auto const got = ::read(fds[0], ack, sizeof ack);
    if (got == 0)
      break; // the child is gone and every ack it wrote has been read
    ASSERT_EQ(got, static_cast<ssize_t>(sizeof ack));
    acked[ack[0]] = std::max(acked[ack[0]], ack[1]);
    if (++acks == acks_before_kill && !killed) {
      ASSERT_EQ(::kill(child, SIGKILL), 0);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(killed) << "the child stopped by itself after " << acks << " acks, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(crash_streams));
  for (auto const& [index, seq] : acked) {
    auto const stream = "usr_crash" + std::to_string(index);
    auto verdict = j->verify_stream(stream);
    ASSERT_TRUE(verdict) << stream;
    EXPECT_TRUE(verdict.value().valid) << stream;
    // Everything acknowledged is there; a batch committed but not yet acknowledged may be too.
    EXPECT_GE(verdict.value().events, seq) << stream;
    EXPECT_TRUE(j->find_idempotency("crash_" + std::to_string(index) + "_" + std::to_string(seq))
                  .value()
                  .has_value());
  }
  std::cout << "[          ] " << acks << " acks read, killed after " << acks_before_kill << "\n";
}

} // namespace
} // namespace steward::storage
