#include "core/hash_chain.hpp"

#include "core/sha256.hpp"

#include "core/assert.hpp"
#include "core/hex.hpp"

#include <openssl/evp.h>

namespace steward::core {

namespace {

/// Writes `value` big-endian into `out`, which has room for `N` bytes.
template <std::size_t N, class Unsigned>
void put_big_endian(Unsigned value, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i < N; ++i)
    out[i] = static_cast<std::uint8_t>(value >> (8 * (N - 1 - i)));
}

/// The fixed-size parts of the canonical record that precede each variable field.
struct record_headers {
  std::array<std::uint8_t, 4> stream_length;
  std::array<std::uint8_t, 8 + 4> seq_and_type_length;
  std::array<std::uint8_t, 8 + 4> created_at_and_payload_length;
};

record_headers headers_of(const chain_event& event) noexcept {
  // Fields longer than 4 GiB cannot reach here: request bodies are capped far below that
  // (limits::body_bytes_max), and the journal caps batches below that too.
  STEWARD_DEBUG_ASSERT(event.stream.size() <= UINT32_MAX && event.type.size() <= UINT32_MAX &&
                       event.payload.size() <= UINT32_MAX);
  record_headers headers{};
  put_big_endian<4>(static_cast<std::uint32_t>(event.stream.size()), headers.stream_length.data());
  put_big_endian<8>(event.seq, headers.seq_and_type_length.data());
  put_big_endian<4>(static_cast<std::uint32_t>(event.type.size()), headers.seq_and_type_length.data() + 8);
  put_big_endian<8>(static_cast<std::uint64_t>(event.created_at), headers.created_at_and_payload_length.data());
  put_big_endian<4>(static_cast<std::uint32_t>(event.payload.size()),
                    headers.created_at_and_payload_length.data() + 8);
  return headers;
}


/// One digest context per thread, reused: creating one allocates, and hashing is on the journal's
/// hot path (every event appended, every event read back).
struct digest_context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  digest_context() { STEWARD_ASSERT(ctx != nullptr); }
  ~digest_context() { EVP_MD_CTX_free(ctx); }
  digest_context(const digest_context&) = delete;
  digest_context& operator=(const digest_context&) = delete;
};

void update(EVP_MD_CTX* ctx, const void* data, std::size_t size) noexcept {
  STEWARD_ASSERT(EVP_DigestUpdate(ctx, data, size) == 1);
}

} // namespace

void append_canonical_event(const chain_event& event, std::string& out) {
  auto const headers = headers_of(event);
  auto const append_bytes = [&out](const auto& bytes) {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  append_bytes(headers.stream_length);
  out.append(event.stream);
  append_bytes(headers.seq_and_type_length);
  out.append(event.type);
  append_bytes(headers.created_at_and_payload_length);
  out.append(event.payload);
}

chain_hash next_chain_hash(const chain_hash& prev, const chain_event& event) noexcept {
  thread_local digest_context context;
  auto* ctx = context.ctx;
  auto const headers = headers_of(event);
  // Failures of a SHA-256 digest over memory are not operating errors (there is no input it can
  // reject), so they abort rather than travel as values.
  STEWARD_ASSERT(EVP_DigestInit_ex2(ctx, sha256_algorithm(), nullptr) == 1);
  update(ctx, prev.data(), prev.size());
  update(ctx, headers.stream_length.data(), headers.stream_length.size());
  update(ctx, event.stream.data(), event.stream.size());
  update(ctx, headers.seq_and_type_length.data(), headers.seq_and_type_length.size());
  update(ctx, event.type.data(), event.type.size());
  update(ctx, headers.created_at_and_payload_length.data(), headers.created_at_and_payload_length.size());
  update(ctx, event.payload.data(), event.payload.size());
  chain_hash out{};
  unsigned int size = 0;
  STEWARD_ASSERT(EVP_DigestFinal_ex(ctx, out.data(), &size) == 1 && size == out.size());
  return out;
}

bool chain_verifier::feed(const chain_event& event, const chain_hash& stored_hash) noexcept {
  ++verdict_.events;
  if (!verdict_.valid)
    return false;
  if (event.seq != next_seq_ || next_chain_hash(head_, event) != stored_hash) {
    // A gap or a repeat is reported at the seq that should have come; a bad hash at its own seq
    // (the two coincide when the seq is right).
    verdict_.valid = false;
    verdict_.first_bad_seq = next_seq_;
    return false;
  }
  head_ = stored_hash;
  ++next_seq_;
  return true;
}

chain_verdict verify_chain(std::span<const chain_link> links, const chain_hash& anchor,
                           std::uint64_t first_seq) noexcept {
  chain_verifier verifier(anchor, first_seq);
  for (auto const& link : links)
    verifier.feed(link.event, link.hash);
  return verifier.verdict();
}

std::string chain_hash_to_hex(const chain_hash& hash) {
  return core::to_hex(std::span<const std::uint8_t>(hash));
}

std::optional<chain_hash> chain_hash_from_hex(std::string_view hex) noexcept {
  chain_hash out{};
  if (hex.size() != out.size() * 2)
    return std::nullopt;
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto const high = hex_value(hex[2 * i]);
    auto const low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return out;
}

} // namespace steward::core
