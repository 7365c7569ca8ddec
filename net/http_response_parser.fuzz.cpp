// libFuzzer target for the response parser (STYLE.md: every parser of untrusted bytes has one;
// providers' answers are untrusted).
//
// Each input is parsed whole, split in two at a point derived from the data (the first piece freed
// before the second is fed), and a few bytes per call; every way of delivering the same bytes must
// give the same outcome, and every outcome must respect the parser's invariants. The first byte
// picks the request method's effect (HEAD or not) and whether the peer closes after the data; all
// of it runs under default limits and under small limits the fuzzer can reach.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes its built-in seed responses
// into DIR, then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "net/http_message.hpp"
#include "net/http_response_parser.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace steward::net;
using namespace std::literals;

/// Seeds, each prefixed with the control byte (bit 0: HEAD request, bit 1: peer closes at end).
constexpr std::string_view seeds[] = {
  "\x00HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"sv,
  "\x00HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"sv,
  "\x02HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"sv,
  "\x00HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"sv,
  "\x01HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"sv,
  "\x00HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n"sv,
  "\x00HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"sv,
  "\x00HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx"sv,
  "\x02HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"sv,
};

struct outcome {
  response_parse_status status = response_parse_status::need_more;
  response_parse_error error = response_parse_error::none;
  std::size_t consumed = 0;
  std::uint16_t code = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;

  bool operator==(const outcome&) const = default;
};

constexpr response_limits small_limits() {
  response_limits limits;
  limits.header_bytes_max = 128;
  limits.header_count_max = 4;
  limits.body_bytes_max = 32;
  return limits;
}

bool has_line_break(std::string_view text) {
  return text.find('\r') != std::string_view::npos || text.find('\n') != std::string_view::npos;
}

outcome check(http_response_parser& parser, response_parse_status status, std::size_t consumed,
              std::size_t size, const response_limits& limits) {
  outcome result;
  result.status = status;
  result.error = parser.error();
  STEWARD_ASSERT(consumed <= size);
  STEWARD_ASSERT(status == parser.status());
  switch (status) {
    case response_parse_status::complete: {
      const parsed_response& response = parser.response();
      STEWARD_ASSERT(parser.error() == response_parse_error::none);
      STEWARD_ASSERT(response.status >= 200 && response.status <= 599);
      STEWARD_ASSERT(response.version_minor <= 1);
      STEWARD_ASSERT(response.headers.size() <= limits.header_count_max);
      STEWARD_ASSERT(response.body.size() <= limits.body_bytes_max);
      STEWARD_ASSERT(!has_line_break(response.reason));
      std::size_t lengths = 0;
      std::size_t encodings = 0;
      for (const auto& [name, value] : response.headers) {
        STEWARD_ASSERT(!name.empty() && !has_line_break(name) && !has_line_break(value));
        lengths += iequals(name, "content-length") ? 1 : 0;
        encodings += iequals(name, "transfer-encoding") ? 1 : 0;
      }
      // Never both kinds of framing, and chunked at most once.
      STEWARD_ASSERT(encodings <= 1 && (lengths == 0 || encodings == 0));
      // Only a complete response's extent is defined: after an error the bytes used depend on
      // where the input was split.
      result.consumed = consumed;
      result.code = response.status;
      result.body = response.body;
      result.headers = response.headers;
      result.keep_alive = response.keep_alive;
      break;
    }
    case response_parse_status::error:
      STEWARD_ASSERT(parser.error() != response_parse_error::none);
      STEWARD_ASSERT(!parser.error_detail().empty());
      break;
    case response_parse_status::need_more:
      STEWARD_ASSERT(parser.error() == response_parse_error::none);
      break;
  }
  return result;
}

/// Feeds `pieces` in order, each from its own allocation freed before the next is fed; stops at
/// the first piece that ends the response. Then closes when asked.
outcome deliver(const std::vector<std::string_view>& pieces, bool head, bool close,
                const response_limits& limits) {
  http_response_parser parser(limits);
  parser.reset(head);
  response_parse_status status = response_parse_status::need_more;
  std::size_t consumed = 0;
  std::size_t size = 0;
  for (auto piece : pieces) {
    auto copy = std::make_unique<char[]>(piece.size() + 1);
    std::copy(piece.begin(), piece.end(), copy.get());
    std::size_t used = 0;
    status = parser.feed(std::string_view(copy.get(), piece.size()), used);
    STEWARD_ASSERT(used <= piece.size());
    consumed += used;
    size += piece.size();
    if (status != response_parse_status::need_more) {
      STEWARD_ASSERT(parser.started() || piece.empty());
      break;
    }
    STEWARD_ASSERT(used == piece.size()); // an unfinished response takes every byte
  }
  if (close && status == response_parse_status::need_more)
    status = parser.finish();
  return check(parser, status, consumed, size, limits);
}

void run(std::string_view data, bool head, bool close, std::uint64_t seed,
         const response_limits& limits) {
  const outcome whole = deliver({data}, head, close, limits);
  const std::size_t split = data.empty() ? 0 : seed % (data.size() + 1);
  const std::vector<std::string_view> halves = {data.substr(0, split), data.substr(split)};
  STEWARD_ASSERT(deliver(halves, head, close, limits) == whole);
  if (data.size() <= 2048) {
    std::vector<std::string_view> pieces;
    for (std::size_t offset = 0; offset < data.size();) {
      const std::size_t step = std::min<std::size_t>(1 + seed % 5, data.size() - offset);
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      pieces.push_back(data.substr(offset, step));
      offset += step;
    }
    STEWARD_ASSERT(deliver(pieces, head, close, limits) == whole);
  }
}

std::uint64_t hash_bytes(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

void write_seeds(const char* directory) {
  std::filesystem::create_directories(directory);
  std::size_t index = 0;
  for (auto seed : seeds) {
    auto path = std::filesystem::path(directory) / ("response-" + std::to_string(index++));
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr || std::fwrite(seed.data(), 1, seed.size(), file) != seed.size()) {
      std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
      std::exit(1);
    }
    std::fclose(file);
  }
  std::printf("wrote %zu seeds to %s\n", index, directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS"))
    write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const auto control = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::uint64_t seed = hash_bytes(input);
  run(input, (control & 1) != 0, (control & 2) != 0, seed, response_limits{});
  run(input, (control & 1) != 0, (control & 2) != 0, seed, small_limits());
  return 0;
}
