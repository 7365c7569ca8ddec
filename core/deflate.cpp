#include "core/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <new>

namespace steward::core {

namespace {

// A raw stream (negative window bits: no zlib header or Adler-32), the largest window (32 KiB),
// the default level and memory: images are made once per passivation, so ratio beats speed.
constexpr int raw_window_bits = -15;
constexpr int memory_level = 8;

/// zlib counts in `uInt`; every input here is far below 4 GiB (a snapshot is bounded by the
/// ledger's limits), and anything larger is refused before it gets here.
constexpr std::size_t uint_max = 0xffffffffu;

} // namespace

std::string deflate_bytes(std::string_view input, std::string_view dictionary) {
  if (input.size() > uint_max || dictionary.size() > uint_max)
    throw std::bad_alloc();
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, raw_window_bits, memory_level,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::bad_alloc();
  if (!dictionary.empty())
    deflateSetDictionary(&stream, reinterpret_cast<const Bytef*>(dictionary.data()),
                         static_cast<uInt>(dictionary.size()));
  std::string out(deflateBound(&stream, static_cast<uLong>(input.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  // deflateBound leaves room for the whole stream, so one call with Z_FINISH ends it.
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END)
    throw std::bad_alloc();
  out.shrink_to_fit();
  return out;
}

std::optional<std::string> inflate_bytes(std::string_view input, std::string_view dictionary,
                                         std::size_t max_bytes) {
  if (input.size() > uint_max || dictionary.size() > uint_max)
    return std::nullopt;
  z_stream stream{};
  if (inflateInit2(&stream, raw_window_bits) != Z_OK)
    throw std::bad_alloc();
  // A raw stream takes its dictionary before the first byte.
  if (!dictionary.empty() &&
      inflateSetDictionary(&stream, reinterpret_cast<const Bytef*>(dictionary.data()),
                           static_cast<uInt>(dictionary.size())) != Z_OK) {
    inflateEnd(&stream);
    return std::nullopt;
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream.avail_in = static_cast<uInt>(input.size());
  std::string out;
  int status = Z_OK;
  while (status == Z_OK) {
    const std::size_t used = out.size();
    if (used >= max_bytes)
      break;
    const std::size_t grow = std::min<std::size_t>({max_bytes - used, std::max<std::size_t>(
                                                      256, input.size() * 4), uint_max});
    out.resize(used + grow);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    stream.avail_out = static_cast<uInt>(grow);
    status = inflate(&stream, Z_NO_FLUSH);
    out.resize(used + grow - stream.avail_out);
  }
  // Anything but the stream's end with every input byte used is refused: Z_BUF_ERROR (truncated),
  // Z_DATA_ERROR (corrupt), Z_OK at `max_bytes` (too large), or bytes after the end.
  const bool whole = status == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole)
    return std::nullopt;
  return out;
}

} // namespace steward::core
