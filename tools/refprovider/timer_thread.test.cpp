#include "tools/refprovider/timer_thread.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace steward::refprovider {
namespace {

using namespace std::chrono_literals;

TEST(timer_thread, runs_due_tasks_in_deadline_order_on_its_own_thread) {
  timer_thread timers(8);
  std::mutex mutex;
  std::vector<int> order;
  std::promise<std::thread::id> ran_on;
  auto done = ran_on.get_future();
  // Scheduled in reverse: the shorter delay runs first whatever the order of `after`.
  ASSERT_TRUE(timers.after(60, [&](bool fired) {
    std::lock_guard<std::mutex> guard(mutex);
    order.push_back(fired ? 2 : -2);
    ran_on.set_value(std::this_thread::get_id());
  }));
  ASSERT_TRUE(timers.after(0, [&](bool fired) {
    std::lock_guard<std::mutex> guard(mutex);
    order.push_back(fired ? 1 : -1);
  }));
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_NE(done.get(), std::this_thread::get_id());
  std::lock_guard<std::mutex> guard(mutex);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(timer_thread, stop_calls_every_waiting_task_once_with_false) {
  timer_thread timers(8);
  std::atomic<int> fired{0}, cancelled{0};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(timers.after(600'000, [&](bool f) { ++(f ? fired : cancelled); }));
  EXPECT_EQ(timers.pending(), 3u);
  timers.stop();
  EXPECT_EQ(fired.load(), 0);
  EXPECT_EQ(cancelled.load(), 3);
  EXPECT_EQ(timers.pending(), 0u);
  EXPECT_FALSE(timers.after(0, [](bool) { ADD_FAILURE() << "ran after stop"; }));
  timers.stop(); // idempotent
}

TEST(timer_thread, refuses_beyond_its_bound) {
  timer_thread timers(2);
  EXPECT_TRUE(timers.after(600'000, [](bool) {}));
  EXPECT_TRUE(timers.after(600'000, [](bool) {}));
  bool called = false;
  EXPECT_FALSE(timers.after(0, [&](bool) { called = true; }));
  timers.stop();
  EXPECT_FALSE(called) << "a refused task is never called";
}

TEST(timer_thread, a_task_may_schedule_the_next_one) {
  timer_thread timers(2);
  std::promise<int> last;
  auto done = last.get_future();
  std::function<void(int)> chain = [&](int n) {
    EXPECT_TRUE(timers.after(0, [&, n](bool fired) {
      if (!fired)
        return;
      if (n == 5)
        last.set_value(n);
      else
        chain(n + 1);
    }));
  };
  chain(1);
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(done.get(), 5);
}

} // namespace
} // namespace steward::refprovider
