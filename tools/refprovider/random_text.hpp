#pragma once

// Random identifiers and secrets of the reference provider: a prefix and `Bytes` random bytes in
// unpadded base64url (`acct_…`, `rpt_…`, `rsc_…`, `rpk_…`).

#include "core/ids.hpp"
#include "core/jws.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::refprovider {

/// `prefix` and `Bytes` bytes of `random`; empty when the source failed.
template <std::size_t Bytes>
std::optional<std::string> random_text(std::string_view prefix, core::random_source& random) {
  std::array<std::uint8_t, Bytes> bytes{};
  if (!random.fill(bytes))
    return std::nullopt;
  return std::string(prefix) + core::base64url_encode(std::span<const std::uint8_t>(bytes));
}

} // namespace steward::refprovider
