#include "tools/refprovider/timer_thread.hpp"

#include <utility>
#include <vector>

namespace steward::refprovider {

timer_thread::timer_thread(std::size_t tasks_max)
    : tasks_max_(tasks_max), thread_([this] { run(); }) {}

timer_thread::~timer_thread() {
  stop();
}

bool timer_thread::after(std::uint32_t delay_ms, task work) {
  auto const deadline = clock::now() + std::chrono::milliseconds(delay_ms);
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stopping_ || tasks_.size() >= tasks_max_)
      return false;
    tasks_.emplace(deadline, std::move(work));
  }
  wake_.notify_one();
  return true;
}

void timer_thread::stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  std::lock_guard<std::mutex> guard(join_mutex_);
  if (thread_.joinable())
    thread_.join();
}

std::size_t timer_thread::pending() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return tasks_.size();
}

void timer_thread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (stopping_) {
      // Taken out before they run, so that a task may call `after` (which refuses now).
      auto left = std::exchange(tasks_, {});
      lock.unlock();
      for (auto& [deadline, work] : left)
        work(false);
      return;
    }
    if (tasks_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto first = tasks_.begin();
    if (first->first > clock::now()) {
      wake_.wait_until(lock, first->first);
      continue;
    }
    auto work = std::move(first->second);
    tasks_.erase(first);
    // Run without the lock: a task may schedule another (the meter's next tick).
    lock.unlock();
    work(true);
    lock.lock();
  }
}

} // namespace steward::refprovider
