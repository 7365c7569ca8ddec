#pragma once

// Memory for records that outlive the work that made them: an alias of the in-memory index, a
// hibernated user's image. With mimalloc (release builds), each thread takes such blocks from a
// heap of its own instead of its default heap, so the pages a burst of requests and actors used
// hold none of them once the burst is over, and go back to the system whole (docs/benchmarks.md,
// "Memory and restart"). Without it (sanitizer builds), the global operator new.
//
// Any thread may free a block, whichever thread allocated it.

#include <cstddef>

namespace steward::core {

/// `bytes` of memory aligned for any object; throws `std::bad_alloc` when none can be had.
void* allocate_long_lived(std::size_t bytes);

/// Frees a block of `allocate_long_lived`; null is ignored.
void free_long_lived(void* block) noexcept;

} // namespace steward::core
