#pragma once

// Work to run later, off the server's io threads: the meter's ticks and the delayed answers of
// fault injection. One dedicated thread sleeps until the earliest deadline and runs what is due.
//
// Why a thread of its own rather than a timer on an io loop: net::server does not expose its loops'
// timers, and net::http_client keeps its asio io_context private; a handler must never sleep on an
// io thread. The tasks run here only post work (a `responder::respond`, an `http_client::request`),
// so one thread keeps up with any number of them.
//
// Every task accepted by `after` is called exactly once, on the timer thread: with `true` when its
// deadline passed, or with `false` when `stop()` came first (a delayed answer is then sent at once,
// a meter tick is dropped). Bounded by `tasks_max`: `after` refuses beyond it. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace steward::refprovider {

class timer_thread {
public:
  /// Called with `true` at its deadline, `false` when the thread stopped first.
  using task = std::function<void(bool fired)>;

  explicit timer_thread(std::size_t tasks_max);
  /// Calls `stop()`.
  ~timer_thread();

  timer_thread(const timer_thread&) = delete;
  timer_thread& operator=(const timer_thread&) = delete;

  /// Runs `work` in `delay_ms` (0: as soon as the thread gets to it). False, and `work` is never
  /// called, when `tasks_max` tasks are waiting or the thread is stopping.
  bool after(std::uint32_t delay_ms, task work);

  /// Calls every waiting task with `false`, then joins the thread. Idempotent; must not be called
  /// from a task.
  void stop();

  /// Tasks waiting now.
  std::size_t pending() const;

private:
  using clock = std::chrono::steady_clock;
  void run();

  std::size_t tasks_max_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  /// Deadline -> task; a multimap keeps tasks with the same deadline in the order they came.
  std::multimap<clock::time_point, task> tasks_;
  bool stopping_ = false;
  std::mutex join_mutex_;
  std::thread thread_;
};

} // namespace steward::refprovider
