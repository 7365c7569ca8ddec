#include "storage/stream_heads.hpp"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

namespace steward::storage {

// Slots live in zeroed anonymous pages and are written field by field: no constructors.
static_assert(std::is_trivially_copyable_v<stream_head_slot>);
static_assert(sizeof(stream_head_slot) == 88);

void stream_head_slots_unmap::operator()(stream_head_slot* slots) const noexcept {
  ::munmap(slots, bytes);
}

stream_heads::stream_heads(std::size_t slots) {
  if (slots == 0)
    return;
  const std::size_t count = std::bit_ceil(slots);
  const std::size_t bytes = count * sizeof(stream_head_slot);
  // Fresh anonymous pages are zero (every slot empty) and cost nothing until written.
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED)
    throw std::bad_alloc();
  slots_ = std::unique_ptr<stream_head_slot[], stream_head_slots_unmap>(
    static_cast<stream_head_slot*>(mapped), stream_head_slots_unmap{bytes});
  count_ = count;
  mask_ = count - 1;
}

std::size_t stream_heads::index_of(std::string_view stream) const noexcept {
  return std::hash<std::string_view>{}(stream) & mask_;
}

std::optional<core::chain_hash> stream_heads::known(std::string_view stream,
                                                    std::uint64_t seq) const noexcept {
  if (!slots_ || seq == 0 || stream.size() > stream_bytes_max)
    return std::nullopt;
  const stream_head_slot& s = slots_[index_of(stream)];
  if (s.seq != seq || s.length != stream.size() ||
      std::memcmp(s.stream, stream.data(), stream.size()) != 0)
    return std::nullopt;
  return s.hash;
}

void stream_heads::remember(std::string_view stream, std::uint64_t seq,
                            const core::chain_hash& hash) noexcept {
  if (!slots_ || seq == 0 || stream.size() > stream_bytes_max)
    return;
  stream_head_slot& s = slots_[index_of(stream)];
  s.seq = seq;
  s.hash = hash;
  s.length = static_cast<std::uint8_t>(stream.size());
  std::memcpy(s.stream, stream.data(), stream.size());
}

} // namespace steward::storage
