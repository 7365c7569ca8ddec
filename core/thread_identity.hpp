#pragma once

// Names the calling thread, so that `top -H`, `perf` and a debugger tell stewardd's threads apart
// (the journal's writer from an io thread, say), and lowers its scheduling priority when it does
// bulk work (`--bulk-nice`): on a saturated machine a thread the kill path needs (the admin
// listener's io thread, the kill register's writer) then gets a core before the charges' threads.

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace steward::core {

inline void name_this_thread(std::string_view name) {
  constexpr std::size_t kernel_max = 15;
  const std::string cut(name.substr(0, kernel_max));
  // Best effort: a name is a diagnostic aid, and nothing depends on it being set.
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

/// Sets the calling thread's nice value to `nice` (0..19; Linux keeps one per thread). Raising it
/// needs no privilege. Best effort: a thread left at 0 only competes as before.
inline void nice_this_thread(int nice) {
  if (nice > 0)
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
}

} // namespace steward::core
