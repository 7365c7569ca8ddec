// libFuzzer target for the request parser (STYLE.md: every parser of untrusted bytes has one).
//
// Each input is parsed whole, split in two at a point derived from the data (the two pieces in
// separately allocated buffers, the first freed before the second call, so a pointer kept across
// calls is caught by ASan), grown a few bytes per call, and as a pipeline of requests. Every way of
// delivering the same bytes must give the same outcome, and every outcome must respect the API's
// invariants. All of it runs under default limits and under small limits that the fuzzer can reach.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes one file per case of
// net/http_parser_cases.hpp into DIR, then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "net/http_parser.hpp"
#include "net/http_parser_cases.hpp"

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

/// An outcome, copied out of the parser while its input is still alive.
struct outcome {
  parse_status status = parse_status::need_more;
  std::uint16_t error_status = 0;
  std::size_t consumed = 0;
  std::string target;
  std::string body;
  std::vector<std::string> headers;
  bool keep_alive = false;

  bool operator==(const outcome&) const = default;
};

constexpr parse_limits small_limits() {
  parse_limits limits;
  limits.request_line_bytes_max = 64;
  limits.header_bytes_max = 256;
  limits.header_count_max = 6;
  limits.body_bytes_max = 100;
  return limits;
}

bool contains_line_break(std::string_view text) {
  return text.find('\r') != std::string_view::npos || text.find('\n') != std::string_view::npos;
}

outcome check(const http_parser& parser, parse_status status, std::string_view input,
              const parse_limits& limits) {
  outcome result;
  result.status = status;
  result.error_status = parser.error_status();
  switch (status) {
    case parse_status::complete: {
      const http_request& request = parser.request();
      STEWARD_ASSERT(parser.consumed() > 0 && parser.consumed() <= input.size());
      STEWARD_ASSERT(parser.error_status() == 0);
      STEWARD_ASSERT(parser.in_progress() && parser.headers_complete());
      STEWARD_ASSERT(request.version_minor <= 1);
      STEWARD_ASSERT(!request.method_text.empty() && !request.target.empty());
      STEWARD_ASSERT(request.path.size() <= request.target.size());
      STEWARD_ASSERT(request.target.front() == '/' || request.target == "*");
      STEWARD_ASSERT(request.headers.size() <= limits.header_count_max);
      STEWARD_ASSERT(request.body.size() <= limits.body_bytes_max);
      STEWARD_ASSERT(!contains_line_break(request.target));
      std::size_t hosts = 0;
      std::size_t framing = 0; // Content-Length and Transfer-Encoding fields together
      for (const auto& field : request.headers) {
        STEWARD_ASSERT(!field.name.empty() && !contains_line_break(field.name));
        STEWARD_ASSERT(!contains_line_break(field.value));
        hosts += iequals(field.name, "host") ? 1 : 0;
        framing += iequals(field.name, "content-length") || iequals(field.name, "transfer-encoding");
        result.headers.emplace_back(std::string(field.name) + ':' + std::string(field.value));
      }
      STEWARD_ASSERT(hosts == request.version_minor || (request.version_minor == 0 && hosts <= 1));
      STEWARD_ASSERT(framing <= 1);
      result.consumed = parser.consumed();
      result.target = std::string(request.target);
      result.body = std::string(request.body);
      result.keep_alive = request.keep_alive;
      break;
    }
    case parse_status::error: {
      auto code = parser.error_status();
      STEWARD_ASSERT(code == 400 || code == 413 || code == 431 || code == 501 || code == 505);
      STEWARD_ASSERT(!parser.error_detail().empty());
      break;
    }
    case parse_status::need_more: STEWARD_ASSERT(parser.error_status() == 0); break;
  }
  return result;
}

std::uint64_t hash_bytes(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

outcome parse_whole(std::string_view data, const parse_limits& limits) {
  http_parser parser(limits);
  return check(parser, parser.parse(data), data, limits);
}

outcome parse_split(std::string_view data, std::size_t split, const parse_limits& limits) {
  http_parser parser(limits);
  {
    auto first = std::make_unique<char[]>(split + 1);
    std::copy(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(split), first.get());
    std::string_view prefix(first.get(), split);
    auto status = parser.parse(prefix);
    if (status != parse_status::need_more)
      return check(parser, status, prefix, limits);
    check(parser, status, prefix, limits);
  } // the first buffer is gone: nothing may point into it now
  auto second = std::make_unique<char[]>(data.size() + 1);
  std::copy(data.begin(), data.end(), second.get());
  std::string_view whole(second.get(), data.size());
  return check(parser, parser.parse(whole), whole, limits);
}

outcome parse_growing(std::string_view data, std::uint64_t seed, const parse_limits& limits) {
  http_parser parser(limits);
  std::string buffer;
  auto status = parse_status::need_more;
  std::size_t offset = 0;
  while (offset < data.size()) {
    std::size_t step = 1 + seed % 7;
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    step = std::min(step, data.size() - offset);
    buffer.append(data.substr(offset, step));
    offset += step;
    status = parser.parse(buffer);
    if (status != parse_status::need_more)
      break;
    STEWARD_ASSERT(parser.error_status() == 0);
  }
  return check(parser, status, buffer, limits);
}

void parse_pipeline(std::string_view data, const parse_limits& limits) {
  http_parser parser(limits);
  std::string_view rest = data;
  for (std::size_t requests = 0; requests <= data.size(); ++requests) {
    auto status = parser.parse(rest);
    check(parser, status, rest, limits);
    if (status != parse_status::complete)
      return;
    STEWARD_ASSERT(parser.consumed() > 0);
    rest.remove_prefix(parser.consumed());
    parser.reset();
    STEWARD_ASSERT(!parser.in_progress() && parser.error_status() == 0 && parser.consumed() == 0);
  }
  STEWARD_ASSERT(false); // each complete request consumes at least one byte
}

void run(std::string_view data, const parse_limits& limits) {
  const std::uint64_t hash = hash_bytes(data);
  const outcome whole = parse_whole(data, limits);
  STEWARD_ASSERT(parse_split(data, hash % (data.size() + 1), limits) == whole);
  if (data.size() <= 4096)
    STEWARD_ASSERT(parse_growing(data, hash, limits) == whole);
  parse_pipeline(data, limits);
}

void write_seeds(const char* directory) {
  std::filesystem::create_directories(directory);
  for (const auto& c : parser_cases::cases) {
    auto path = std::filesystem::path(directory) / std::string(c.name);
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr || std::fwrite(c.raw.data(), 1, c.raw.size(), file) != c.raw.size()) {
      std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
      std::exit(1);
    }
    std::fclose(file);
  }
  std::printf("wrote %zu seeds to %s\n", std::size(parser_cases::cases), directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS"))
    write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  run(input, parse_limits{});
  run(input, small_limits());
  return 0;
}
