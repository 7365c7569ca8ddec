#pragma once

// A small pool of threads for the journal's blocking reads (docs/spend-core.md: activation reads
// run on a loader pool, never on a CAF worker). A job is a plain function that reads, then posts
// its result back to the actor that asked as a message; it must not throw.
//
// The queue is bounded: `post` refuses a job when it is full or the pool is stopping, and the
// caller answers 503 instead of waiting. `stop()` runs every job already queued, then joins.

#include "core/limits.hpp"
#include "core/thread_identity.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace steward::actors {

/// Blocking journal reads run here, off the CAF workers; at most `core::limits::loader_queue_jobs_max`
/// jobs wait, past that `post` refuses.
class loader_pool {
public:
  /// `nice`: the threads' nice value (`--bulk-nice`), 0 for the process's.
  explicit loader_pool(std::size_t threads = 2, int nice = 0) {
    if (threads == 0)
      threads = 1;
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this, i, nice] {
        core::name_this_thread("loader-" + std::to_string(i));
        core::nice_this_thread(nice);
        run();
      });
  }

  ~loader_pool() { stop(); }

  loader_pool(const loader_pool&) = delete;
  loader_pool& operator=(const loader_pool&) = delete;

  /// Queues `job`; false (and the job dropped) when the queue is full or the pool stopped.
  bool post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || jobs_.size() >= core::limits::loader_queue_jobs_max)
        return false;
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
  }

  /// Runs what is queued, then joins the threads. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_)
      if (thread.joinable())
        thread.join();
  }

private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty())
          return; // stopping and drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace steward::actors
