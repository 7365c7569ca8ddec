#pragma once

// Raw DEFLATE (RFC 1951) of small byte strings through zlib, with an optional preset dictionary:
// what keeps a hibernated user's image (actors/directory.hpp) at a fraction of its snapshot JSON,
// whose member names repeat in every user. No header, no checksum: the caller owns the framing,
// and the bytes never leave the process.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace steward::core {

/// `input` compressed, primed with `dictionary` (strings likely to occur in the input; the same
/// one must be given to `inflate_bytes`). Cannot fail short of an allocation failure, which throws
/// `std::bad_alloc` like any other.
std::string deflate_bytes(std::string_view input, std::string_view dictionary = {});

/// The bytes `deflate_bytes` compressed with `dictionary`; none when `input` is not a whole raw
/// DEFLATE stream (corrupt, truncated, or with bytes after its end) or would inflate past
/// `max_bytes`. A raw stream carries no checksum nor dictionary id: inflated with another
/// dictionary than it was made with, it may come out wrong rather than refused, so both sides
/// must name the same constant.
std::optional<std::string> inflate_bytes(std::string_view input, std::string_view dictionary,
                                         std::size_t max_bytes);

} // namespace steward::core
