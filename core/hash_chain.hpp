#pragma once

// The hash chain of a journal stream (DESIGN 6): every event of a stream carries
//
//   hash(seq) = SHA-256(hash(seq - 1) ‖ canonical event bytes(seq))
//
// with hash(0), the genesis, 32 zero bytes. Changing, removing or reordering any stored event breaks
// every hash after it, so an auditor who trusts the newest hash can check the whole history.
//
// The canonical event bytes cover every field an auditor relies on, not only the payload, so that
// a changed type, timestamp or sequence number is caught too. They are a length-prefixed binary
// record, all integers big-endian:
//
//   u32 stream length, stream bytes,
//   u64 seq,
//   u32 type length, type bytes,
//   i64 created_at (two's complement),
//   u32 payload length, payload bytes (the canonical JSON of the event, opaque here)
//
// Length prefixes make the encoding injective: no two different events share the same bytes, which
// a plain concatenation (`"ab" + "c"` versus `"a" + "bc"`) would not guarantee. This encoding is part
// of the on-disk format: changing it invalidates every stored chain.
//
// Pure functions, no I/O; safe to call from any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

inline constexpr std::size_t chain_hash_bytes = 32;

/// A SHA-256 link of a stream's chain.
using chain_hash = std::array<std::uint8_t, chain_hash_bytes>;

/// The `prev_hash` of a stream's first event (seq 1).
inline constexpr chain_hash chain_genesis{};

/// The fields of one event that its hash covers, as views: nothing is copied.
struct chain_event {
  std::string_view stream;
  std::uint64_t seq = 0;
  std::string_view type;
  std::int64_t created_at = 0;
  std::string_view payload;
};

/// Appends the canonical bytes of `event` (layout above) to `out`. The hash functions below hash
/// these bytes without building them; this is for tests, tools and other backends that must
/// reproduce them.
void append_canonical_event(const chain_event& event, std::string& out);

/// SHA-256(prev ‖ canonical bytes of `event`): the hash `event` must carry when it follows `prev`.
chain_hash next_chain_hash(const chain_hash& prev, const chain_event& event) noexcept;

/// What a chain check found. `events` counts every link handed in, also after a bad one, so that
/// an audit can say how long the stream is even when it is broken.
struct chain_verdict {
  bool valid = true;
  std::uint64_t events = 0;
  /// The first seq that is missing, out of order or whose stored hash does not match.
  std::optional<std::uint64_t> first_bad_seq;
};

/// Checks a chain one link at a time, so that a backend can verify rows as it steps through them
/// without holding a whole stream in memory. Links must come in seq order; a gap or a repeated
/// seq is reported at the seq that was expected.
class chain_verifier {
public:
  /// `anchor` is the hash of event `first_seq - 1` (the genesis when `first_seq` is 1).
  explicit chain_verifier(const chain_hash& anchor = chain_genesis, std::uint64_t first_seq = 1) noexcept
    : head_(anchor), next_seq_(first_seq) {}

  /// Feeds the next stored link: the event and the hash stored with it. Returns false once the
  /// chain is broken (at this link or before); later links are then only counted.
  bool feed(const chain_event& event, const chain_hash& stored_hash) noexcept;

  const chain_verdict& verdict() const noexcept { return verdict_; }
  /// The hash the next event must chain from: the last stored hash fed in.
  const chain_hash& head() const noexcept { return head_; }
  /// The seq the next event must carry.
  std::uint64_t next_seq() const noexcept { return next_seq_; }

private:
  chain_hash head_;
  std::uint64_t next_seq_;
  chain_verdict verdict_;
};

/// One stored link for `verify_chain`.
struct chain_link {
  chain_event event;
  chain_hash hash{};
};

/// Verifies `links` in order, starting from `anchor` at `first_seq` (see `chain_verifier`).
chain_verdict verify_chain(std::span<const chain_link> links, const chain_hash& anchor = chain_genesis,
                           std::uint64_t first_seq = 1) noexcept;

/// Lowercase hex of a hash: 64 characters.
std::string chain_hash_to_hex(const chain_hash& hash);

/// Parses 64 hex digits (either case); anything else, including surrounding spaces, is nullopt.
std::optional<chain_hash> chain_hash_from_hex(std::string_view hex) noexcept;

} // namespace steward::core
