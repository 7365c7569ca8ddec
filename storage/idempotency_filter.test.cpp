#include "storage/idempotency_filter.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace steward::storage {
namespace {

std::string key_of(int i) { return "usr_" + std::to_string(i) + ":ref:key-" + std::to_string(std::int64_t{i} * 7919); }

/// Keys never added that the filter answers "maybe" for, out of `probes`.
int false_maybes(const idempotency_filter& filter, int first, int probes) {
  int maybes = 0;
  for (int i = first; i < first + probes; ++i)
    maybes += filter.may_contain("never-added-" + std::to_string(i)) ? 1 : 0;
  return maybes;
}

// 1 MiB: 32 768 words and 131 072 keys a generation.
constexpr std::size_t one_mib = std::size_t{1} << 20;
constexpr int generation_keys = static_cast<int>(one_mib / 8 / idempotency_filter::generations *
                                                 idempotency_filter::keys_per_word);

TEST(IdempotencyFilter, UntilItsScanIsCompleteEveryKeyIsMaybe) {
  idempotency_filter filter(one_mib);
  EXPECT_FALSE(filter.complete());
  EXPECT_EQ(false_maybes(filter, 0, 1000), 1000);
  filter.mark_complete();
  EXPECT_EQ(false_maybes(filter, 0, 1000), 0) << "an empty, complete filter knows every key is new";
  EXPECT_EQ(filter.answered_no(), 1000u);
  EXPECT_EQ(filter.answered_maybe(), 1000u);
}

TEST(IdempotencyFilter, EveryKeyAddedIsMaybeAndFewOthersAre) {
  idempotency_filter filter(one_mib);
  filter.mark_complete();
  for (int i = 0; i < generation_keys; ++i)
    filter.add(key_of(i), 100);
  for (int i = 0; i < generation_keys; ++i)
    ASSERT_TRUE(filter.may_contain(key_of(i))) << key_of(i);
  // A full generation: about one false "maybe" in 200 (docs/journal.md); allow twice that.
  EXPECT_LT(false_maybes(filter, 0, 100'000), 1000);
}

TEST(IdempotencyFilter, AFullGenerationGivesWayAndAPurgeRetiresOnlyWhatItExpired) {
  idempotency_filter filter(one_mib);
  filter.mark_complete();
  // Generation 0: keys created at 100..; generation 1 (the current one): created at 200.
  for (int i = 0; i < generation_keys; ++i)
    filter.add(key_of(i), 100 + i % 50);
  for (int i = generation_keys; i < generation_keys + 1000; ++i)
    filter.add(key_of(i), 200);

  // A purge up to 149 has not expired every key of generation 0 (one was created at 149).
  filter.retire_older_than(149);
  EXPECT_EQ(filter.retired(), 0u);
  for (int i = 0; i < generation_keys + 1000; ++i)
    ASSERT_TRUE(filter.may_contain(key_of(i)));

  // Up to 150 it has: generation 0 is emptied; the current one never is, however old.
  EXPECT_EQ(filter.keys(), static_cast<std::uint64_t>(generation_keys + 1000));
  EXPECT_EQ(filter.capacity(), static_cast<std::uint64_t>(4 * generation_keys));
  filter.retire_older_than(150);
  EXPECT_EQ(filter.retired(), 1u);
  EXPECT_EQ(filter.keys(), 1000u) << "the retired generation's keys no longer count";
  for (int i = generation_keys; i < generation_keys + 1000; ++i)
    ASSERT_TRUE(filter.may_contain(key_of(i)));
  int still_maybe = 0;
  for (int i = 0; i < 10'000; ++i)
    still_maybe += filter.may_contain(key_of(i)) ? 1 : 0;
  EXPECT_LT(still_maybe, 100) << "the retired generation's keys are gone";
  filter.retire_older_than(1'000'000);
  EXPECT_EQ(filter.retired(), 1u) << "the current generation stays";
}

TEST(IdempotencyFilter, WithNoGenerationFreeTheCurrentOneTakesMoreKeysAndStaysRight) {
  idempotency_filter filter(std::size_t{4096}); // 128 words a generation, 512 keys
  filter.mark_complete();
  const int keys = 20'000; // ten times what all four generations are sized for
  for (int i = 0; i < keys; ++i)
    filter.add(key_of(i), 100);
  for (int i = 0; i < keys; ++i)
    ASSERT_TRUE(filter.may_contain(key_of(i)));
  EXPECT_GT(false_maybes(filter, 0, 1000), 900) << "overfull: it answers maybe, never no";
}

TEST(IdempotencyFilter, AScanAddsBeforeItIsCompleteAndNothingRetiresMeanwhile) {
  idempotency_filter filter(std::size_t{4096});
  for (int i = 0; i < 3000; ++i) // past one generation's size: no rotation while incomplete
    filter.add(key_of(i), 100);
  filter.retire_older_than(1'000'000);
  EXPECT_EQ(filter.retired(), 0u);
  filter.mark_complete();
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(filter.may_contain(key_of(i)));
}

/// Resident bytes of this process (/proc/self/statm), 0 when unreadable.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(IdempotencyFilter, CostsMemoryOnlyWhereKeysLandAndGivesARetiredGenerationBack) {
  constexpr std::size_t mib = std::size_t{1} << 20;
  const std::size_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  idempotency_filter filter(16 * mib); // four generations of 4 MiB, 2 097 152 keys each
  filter.mark_complete();
  for (int i = 0; i < 1000; ++i) // at most 1 000 of the first generation's 1 024 pages
    filter.add(key_of(i), 100);
  EXPECT_LT(resident_bytes(), before + 8 * mib) << "the three untouched generations cost nothing";

  // Fill the first generation, put one key into the second, and retire the first.
  const int per_generation = static_cast<int>(16 * mib / 8 / idempotency_filter::generations *
                                              idempotency_filter::keys_per_word);
  for (int i = 1000; i < per_generation; ++i)
    filter.add(key_of(i), 100);
  filter.add("in-the-second", 200);
  const std::size_t filled = resident_bytes();
  filter.retire_older_than(150);
  EXPECT_EQ(filter.retired(), 1u);
  EXPECT_LT(resident_bytes(), filled - 3 * mib) << "the retired generation's pages went back";
  EXPECT_TRUE(filter.may_contain("in-the-second"));
  EXPECT_FALSE(filter.may_contain(key_of(0)));
}

// The journal's use: the writer adds a key, then hands it over (here: an atomic counter, in the
// journal a callback and an actor message); a reader that learns of it must be answered maybe,
// while generations rotate and retire under it.
TEST(IdempotencyFilter, AKeyHandedOverAfterItsAddIsNeverAnsweredNo) {
  idempotency_filter filter(std::size_t{64} << 10); // 2 048 words, 8 192 keys a generation
  filter.mark_complete();
  constexpr int keys = 60'000;
  std::atomic<int> published{0};
  std::atomic<bool> wrong{false};
  // Key i is created at second i / 1000, and the "purge" retires what is ten seconds older than
  // the newest key. Readers check the keys of the last three seconds they have seen; the writer
  // stays at most 4 000 keys ahead of both, so that none of those can have expired meanwhile.
  std::array<std::atomic<int>, 2> reader_seen{};
  std::thread writer([&] {
    for (int i = 0; i < keys; ++i) {
      while (i > std::min(reader_seen[0].load(), reader_seen[1].load()) + 4000)
        std::this_thread::yield();
      filter.add(key_of(i), i / 1000);
      published.store(i + 1, std::memory_order_release);
      // Like the journal's purge: what is older than ten "seconds" before now is gone.
      if (i % 5000 == 4999)
        filter.retire_older_than(i / 1000 - 10);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&, r] {
      int seen = 0;
      while (seen < keys) {
        seen = published.load(std::memory_order_acquire);
        reader_seen[r].store(seen);
        // Keys still within the retention: the newest few thousand.
        for (int i = std::max(0, seen - 3000) + r; i < seen; i += 7)
          if (!filter.may_contain(key_of(i)))
            wrong.store(true);
      }
    });
  writer.join();
  for (auto& reader : readers)
    reader.join();
  EXPECT_FALSE(wrong.load());
  EXPECT_GT(filter.retired(), 0u) << "generations were retired while readers looked";
}

} // namespace
} // namespace steward::storage
