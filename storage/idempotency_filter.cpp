#include "storage/idempotency_filter.hpp"

#include <algorithm>
#include <functional>
#include <new>

#include <sys/mman.h>

namespace steward::storage {

namespace {

/// splitmix64's finalizer: spreads the string hash's bits over the word and bit choices.
std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

struct probe {
  std::size_t word = 0;
  std::uint64_t mask = 0;
};

probe probe_of(std::string_view key, std::size_t words) noexcept {
  const std::uint64_t h = mix(std::hash<std::string_view>{}(key));
  probe out;
  // The high half picks the word (multiply-shift, no modulo), the low 24 bits four bit positions.
  out.word = static_cast<std::size_t>((static_cast<unsigned __int128>(h >> 32) * words) >> 32);
  for (int i = 0; i < 4; ++i)
    out.mask |= std::uint64_t{1} << ((h >> (6 * i)) & 63);
  return out;
}

} // namespace

using word_ref = std::atomic_ref<std::uint64_t>;

void filter_words_unmap::operator()(std::uint64_t* words) const noexcept {
  ::munmap(words, bytes);
}

idempotency_filter::idempotency_filter(std::size_t bytes)
    : words_(std::max<std::size_t>(1, bytes / sizeof(std::uint64_t) / generations)) {
  // Mapped rather than allocated: an allocator may zero what it hands out (calloc did, touching
  // all four generations at once), while fresh anonymous pages are zero and cost nothing until
  // written. With 100 000 users that was 16 MiB of RSS against the 4 MiB one generation uses.
  const std::size_t length = words_ * sizeof(std::uint64_t);
  for (auto& g : generations_) {
    void* mapped = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
      throw std::bad_alloc();
    g.words = std::unique_ptr<std::uint64_t[], filter_words_unmap>(
      static_cast<std::uint64_t*>(mapped), filter_words_unmap{length});
  }
  generations_[0].live.store(true, std::memory_order_relaxed);
}

bool idempotency_filter::may_contain(std::string_view key) const noexcept {
  if (!complete_.load(std::memory_order_acquire)) {
    maybe_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const probe p = probe_of(key, words_);
  for (const auto& g : generations_) {
    if (g.live.load(std::memory_order_acquire) &&
        (word_ref(g.words[p.word]).load(std::memory_order_relaxed) & p.mask) == p.mask) {
      maybe_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  no_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void idempotency_filter::add(std::string_view key, std::int64_t created_at) noexcept {
  std::size_t current = current_.load(std::memory_order_relaxed);
  // A full current generation gives way to an empty one; only the writer moves it, and only once
  // the scan (the other thread that adds) is done.
  if (generations_[current].keys.load(std::memory_order_relaxed) >= words_ * keys_per_word &&
      complete_.load(std::memory_order_acquire)) {
    for (std::size_t i = 1; i < generations; ++i) {
      const std::size_t next = (current + i) % generations;
      if (!generations_[next].live.load(std::memory_order_relaxed)) {
        generations_[next].live.store(true, std::memory_order_release);
        current_.store(next, std::memory_order_relaxed);
        current = next;
        break;
      }
    }
  }
  generation& g = generations_[current];
  const probe p = probe_of(key, words_);
  word_ref(g.words[p.word]).fetch_or(p.mask, std::memory_order_relaxed);
  g.keys.fetch_add(1, std::memory_order_relaxed);
  std::int64_t newest = g.newest.load(std::memory_order_relaxed);
  while (created_at > newest &&
         !g.newest.compare_exchange_weak(newest, created_at, std::memory_order_relaxed)) {
  }
}

std::uint64_t idempotency_filter::keys() const noexcept {
  std::uint64_t total = 0;
  for (const auto& g : generations_)
    if (g.live.load(std::memory_order_relaxed))
      total += g.keys.load(std::memory_order_relaxed);
  return total;
}

void idempotency_filter::mark_complete() noexcept {
  complete_.store(true, std::memory_order_release);
}

void idempotency_filter::retire_older_than(std::int64_t cutoff) noexcept {
  if (!complete_.load(std::memory_order_acquire))
    return;
  const std::size_t current = current_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < generations; ++i) {
    generation& g = generations_[i];
    if (i == current || !g.live.load(std::memory_order_relaxed) ||
        g.newest.load(std::memory_order_relaxed) >= cutoff)
      continue;
    // Not live first: a lookup meanwhile skips it, and every key it held has no record left.
    // Then its pages go back to the system; they read as zero from here on. (Should the advice
    // fail, the words are cleared one by one.)
    g.live.store(false, std::memory_order_release);
    if (::madvise(g.words.get(), g.words.get_deleter().bytes, MADV_DONTNEED) != 0)
      for (std::size_t w = 0; w < words_; ++w)
        word_ref(g.words[w]).store(0, std::memory_order_relaxed);
    g.keys.store(0, std::memory_order_relaxed);
    g.newest.store(INT64_MIN, std::memory_order_relaxed);
    retired_.fetch_add(1, std::memory_order_relaxed);
  }
}

} // namespace steward::storage
