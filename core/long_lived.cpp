#include "core/long_lived.hpp"

#include <new>

#ifdef STEWARD_ALLOCATOR_MIMALLOC
#  include <mimalloc.h>
#endif

namespace steward::core {

#ifdef STEWARD_ALLOCATOR_MIMALLOC

void* allocate_long_lived(std::size_t bytes) {
  // Made on the thread's first use; when the thread ends, mimalloc hands what is still allocated
  // in it to the thread's default heap, and the blocks stay valid.
  thread_local mi_heap_t* const heap = mi_heap_new();
  void* block = heap != nullptr ? mi_heap_malloc(heap, bytes) : nullptr;
  if (block == nullptr)
    throw std::bad_alloc();
  return block;
}

void free_long_lived(void* block) noexcept {
  mi_free(block);
}

#else

void* allocate_long_lived(std::size_t bytes) {
  return ::operator new(bytes);
}

void free_long_lived(void* block) noexcept {
  ::operator delete(block);
}

#endif

} // namespace steward::core
