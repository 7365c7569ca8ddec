#include "net/http_parser.hpp"

#include "net/http_parser_cases.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace steward::net {

namespace parser_cases {
/// Lets GoogleTest name a failing case instead of dumping its bytes.
void PrintTo(const parse_case& c, std::ostream* out) {
  *out << c.name;
}
} // namespace parser_cases

namespace {

using parser_cases::parse_case;

/// What a parse ended with, comparable between deliveries.
struct outcome {
  parse_status status = parse_status::need_more;
  std::uint16_t error_status = 0;
  std::size_t consumed = 0;
  std::string body;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const outcome&) const = default;
};

outcome describe(const http_parser& parser, parse_status status) {
  outcome result;
  result.status = status;
  result.error_status = parser.error_status();
  if (status == parse_status::complete) {
    const auto& request = parser.request();
    result.consumed = parser.consumed();
    result.body = std::string(request.body);
    result.target = std::string(request.target);
    for (const auto& field : request.headers)
      result.headers.emplace_back(field.name, field.value);
  }
  return result;
}

outcome parse_whole(std::string_view raw, const parse_limits& limits = {}) {
  http_parser parser(limits);
  // A copy, so the parser sees a buffer it cannot confuse with the static table.
  std::string input(raw);
  return describe(parser, parser.parse(input));
}

/// Delivers `raw` one byte more per call, each time in a freshly allocated buffer, as a connection
/// whose buffer moves would; the previous buffer is freed first so stale pointers show up under ASan.
outcome parse_byte_by_byte(std::string_view raw, const parse_limits& limits = {}) {
  http_parser parser(limits);
  auto status = parse_status::need_more;
  auto input = std::make_unique<std::string>();
  for (std::size_t size = 1; size <= raw.size(); ++size) {
    input = std::make_unique<std::string>(raw.substr(0, size));
    status = parser.parse(*input);
    if (status != parse_status::need_more)
      return describe(parser, status);
  }
  return describe(parser, status);
}

// --- The shared table ----------------------------------------------------------------------------

class parser_case : public ::testing::TestWithParam<parse_case> {};

TEST_P(parser_case, whole_delivery_gives_expected_outcome) {
  const parse_case& c = GetParam();
  http_parser parser(parse_limits{});
  std::string input(c.raw);
  auto status = parser.parse(input);
  ASSERT_EQ(status, c.status) << parser.error_status() << " " << parser.error_detail();
  switch (c.status) {
    case parse_status::complete:
      EXPECT_EQ(parser.consumed(), c.consumed == 0 ? c.raw.size() : c.consumed);
      EXPECT_EQ(parser.request().body, c.body);
      EXPECT_EQ(parser.error_status(), 0);
      EXPECT_TRUE(parser.headers_complete());
      break;
    case parse_status::error:
      EXPECT_EQ(parser.error_status(), c.error_status) << parser.error_detail();
      EXPECT_FALSE(parser.error_detail().empty());
      break;
    case parse_status::need_more: EXPECT_EQ(parser.error_status(), 0); break;
  }
}

TEST_P(parser_case, byte_by_byte_delivery_matches_whole_delivery) {
  const parse_case& c = GetParam();
  EXPECT_EQ(parse_byte_by_byte(c.raw), parse_whole(c.raw));
}

TEST_P(parser_case, parsing_again_after_the_outcome_repeats_it) {
  const parse_case& c = GetParam();
  http_parser parser(parse_limits{});
  std::string input(c.raw);
  auto first = describe(parser, parser.parse(input));
  std::string moved(c.raw);
  EXPECT_EQ(describe(parser, parser.parse(moved)), first);
}

std::string case_name(const ::testing::TestParamInfo<parse_case>& info) {
  return std::string(info.param.name);
}

INSTANTIATE_TEST_SUITE_P(table, parser_case, ::testing::ValuesIn(parser_cases::cases), case_name);

TEST(http_parser_cases, names_are_unique) {
  std::vector<std::string_view> names;
  for (const auto& c : parser_cases::cases) {
    for (auto name : names)
      EXPECT_NE(name, c.name);
    names.push_back(c.name);
  }
}

// --- Request line ------------------------------------------------------------------------------

const http_request& parse_ok(http_parser& parser, std::string_view input) {
  auto status = parser.parse(input);
  EXPECT_EQ(status, parse_status::complete) << parser.error_detail();
  return parser.request();
}

TEST(http_parser, maps_known_methods) {
  struct expectation {
    std::string_view text;
    http_method method;
  };
  const expectation expectations[] = {
    {"GET", http_method::get},       {"HEAD", http_method::head},
    {"POST", http_method::post},     {"PUT", http_method::put},
    {"PATCH", http_method::patch},   {"DELETE", http_method::delete_},
    {"OPTIONS", http_method::options}, {"TRACE", http_method::other},
    {"get", http_method::other},     {"GETX", http_method::other},
  };
  for (const auto& e : expectations) {
    http_parser parser(parse_limits{});
    std::string input = std::string(e.text) + " / HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto& request = parse_ok(parser, input);
    EXPECT_EQ(request.method, e.method) << e.text;
    EXPECT_EQ(request.method_text, e.text);
  }
}

TEST(http_parser, splits_target_into_path_and_query) {
  http_parser parser(parse_limits{});
  const auto& request = parse_ok(parser, "GET /v1/catalog?provider=cf&q=a?b HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(request.target, "/v1/catalog?provider=cf&q=a?b");
  EXPECT_EQ(request.path, "/v1/catalog");
  EXPECT_EQ(request.query, "provider=cf&q=a?b");
  EXPECT_EQ(request.version_minor, 1);

  parser.reset();
  const auto& plain = parse_ok(parser, "GET /v1/users/a%2Fb HTTP/1.0\r\n\r\n");
  EXPECT_EQ(plain.path, "/v1/users/a%2Fb");
  EXPECT_TRUE(plain.query.empty());
  EXPECT_EQ(plain.version_minor, 0);

  parser.reset();
  const auto& empty_query = parse_ok(parser, "GET /x? HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(empty_query.path, "/x");
  EXPECT_TRUE(empty_query.query.empty());
}

TEST(http_parser, asterisk_form_only_for_options) {
  http_parser parser(parse_limits{});
  const auto& request = parse_ok(parser, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(request.target, "*");
  EXPECT_EQ(request.path, "*");
}

// --- Header fields -----------------------------------------------------------------------------

TEST(http_parser, keeps_headers_in_order_with_trimmed_values) {
  http_parser parser(parse_limits{});
  std::string input = "GET / HTTP/1.1\r\nHost:  api.example \t\r\nX-Empty:\r\n"
                      "X-Inner: a \t b\r\nx-caf: caf\xc3\xa9\r\n\r\n";
  const auto& request = parse_ok(parser, input);
  ASSERT_EQ(request.headers.size(), 4u);
  EXPECT_EQ(request.headers[0].name, "Host");
  EXPECT_EQ(request.headers[0].value, "api.example");
  EXPECT_EQ(request.headers[1].name, "X-Empty");
  EXPECT_EQ(request.headers[1].value, "");
  EXPECT_EQ(request.headers[2].value, "a \t b");
  EXPECT_EQ(request.headers[3].value, "caf\xc3\xa9");
  EXPECT_EQ(request.header("HOST"), "api.example");
  EXPECT_EQ(request.header("X-CAF"), "caf\xc3\xa9");
  EXPECT_EQ(request.header("missing"), "");
  // The views point into the caller's input, not into copies.
  EXPECT_GE(request.headers[0].value.data(), input.data());
  EXPECT_LT(request.headers[0].value.data(), input.data() + input.size());
}

TEST(http_parser, field_value_bytes_at_every_position) {
  // Values are checked a word at a time; a forbidden byte must be found wherever it sits.
  const std::string forbidden = std::string("\x00\x01\x08\x0a\x0b\x0d\x1f\x7f", 8);
  const std::string allowed = "\t !~\x80\xff";
  for (std::size_t position = 0; position < 24; ++position) {
    for (char c : forbidden) {
      std::string value(24, 'v');
      value[position] = c;
      http_parser parser(parse_limits{});
      std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + value + "\r\n\r\n";
      EXPECT_EQ(parser.parse(input), parse_status::error) << position << " " << int(c);
      EXPECT_EQ(parser.error_status(), 400);
    }
    for (char c : allowed) {
      std::string value(24, 'v');
      value[position] = c;
      http_parser parser(parse_limits{});
      std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + value + "\r\n\r\n";
      ASSERT_EQ(parser.parse(input), parse_status::complete) << position << " " << int(c);
      // Whitespace at either end is trimmed; everywhere else the value is kept as received.
      auto expected = std::string_view(value);
      while (!expected.empty() && (expected.front() == ' ' || expected.front() == '\t'))
        expected.remove_prefix(1);
      while (!expected.empty() && (expected.back() == ' ' || expected.back() == '\t'))
        expected.remove_suffix(1);
      EXPECT_EQ(parser.request().header("x-v"), expected);
    }
  }
}

TEST(http_parser, framing_header_names_are_case_insensitive) {
  http_parser parser(parse_limits{});
  EXPECT_EQ(parser.parse("POST / HTTP/1.1\r\nhOsT: a\r\nCONNECTION: CLOSE\r\n"
                         "TRANSFER-ENCODING: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"),
            parse_status::complete);
  EXPECT_EQ(parser.request().body, "x");
  EXPECT_FALSE(parser.request().keep_alive);
  // Names that differ only in a non-letter are other fields.
  http_parser other(parse_limits{});
  EXPECT_EQ(other.parse("POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n"
                        "Content-Lengt: 5\r\n\r\n"),
            parse_status::complete);
  EXPECT_EQ(other.request().body, "");
}

TEST(http_parser, keep_alive_follows_rfc9112_section_9_3) {
  struct expectation {
    std::string_view head;
    bool keep_alive;
  };
  const expectation expectations[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n", true},
    {"GET / HTTP/1.0\r\n\r\n", false},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
    {"GET / HTTP/1.0\r\nConnection: foo ,keep-alive\r\n\r\n", true},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
  };
  for (const auto& e : expectations) {
    http_parser parser(parse_limits{});
    EXPECT_EQ(parse_ok(parser, e.head).keep_alive, e.keep_alive) << e.head;
  }
}

TEST(http_parser, error_detail_names_the_smuggling_attempt) {
  http_parser parser(parse_limits{});
  auto status = parser.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(status, parse_status::error);
  EXPECT_EQ(parser.error_status(), 400);
  EXPECT_EQ(parser.error_detail(), "both Content-Length and Transfer-Encoding");
}

// --- Limits ------------------------------------------------------------------------------------

std::string request_line_of_size(std::size_t size) {
  // "GET " + target + " HTTP/1.1\r\n"
  const std::size_t overhead = 4 + 11;
  return "GET /" + std::string(size - overhead - 1, 'a') + " HTTP/1.1\r\n";
}

TEST(http_parser, request_line_at_limit_is_accepted) {
  parse_limits limits;
  std::string input = request_line_of_size(limits.request_line_bytes_max) + "Host: a\r\n\r\n";
  http_parser parser(limits);
  EXPECT_EQ(parser.parse(input), parse_status::complete) << parser.error_detail();
}

TEST(http_parser, request_line_over_limit_is_431_before_it_ends) {
  parse_limits limits;
  std::string line = request_line_of_size(limits.request_line_bytes_max + 1);
  http_parser parser(limits);
  // Everything but the LF: the line is already one byte too long.
  EXPECT_EQ(parser.parse(std::string_view(line).substr(0, line.size() - 1)), parse_status::error);
  EXPECT_EQ(parser.error_status(), 431);

  // One byte less is still waiting for its end.
  http_parser waiting(limits);
  EXPECT_EQ(waiting.parse(std::string_view(line).substr(0, line.size() - 2)),
            parse_status::need_more);
}

TEST(http_parser, configured_request_line_limit_applies) {
  parse_limits limits;
  limits.request_line_bytes_max = 64;
  http_parser parser(limits);
  std::string input = request_line_of_size(65) + "Host: a\r\n\r\n";
  EXPECT_EQ(parser.parse(input), parse_status::error);
  EXPECT_EQ(parser.error_status(), 431);
}

/// A request whose header section is exactly `size` bytes long.
std::string head_of_size(std::size_t size) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  const std::string filler_name = "X-Filler: ";
  std::size_t remaining = size - head.size() - 2;
  while (remaining > 0) {
    std::size_t line = std::min<std::size_t>(remaining, 1000);
    if (remaining - line != 0 && remaining - line < filler_name.size() + 2)
      line -= filler_name.size() + 2;
    head += filler_name + std::string(line - filler_name.size() - 2, 'v') + "\r\n";
    remaining -= line;
  }
  return head + "\r\n";
}

TEST(http_parser, header_section_at_limit_is_accepted) {
  parse_limits limits;
  std::string head = head_of_size(limits.header_bytes_max);
  ASSERT_EQ(head.size(), limits.header_bytes_max);
  http_parser parser(limits);
  EXPECT_EQ(parser.parse(head), parse_status::complete) << parser.error_detail();
}

TEST(http_parser, header_section_over_limit_is_431_as_soon_as_seen) {
  parse_limits limits;
  std::string head = head_of_size(limits.header_bytes_max + 1);
  ASSERT_EQ(head.size(), limits.header_bytes_max + 1);
  http_parser parser(limits);
  // With one byte less than the limit seen, the section may still end in time.
  EXPECT_EQ(parser.parse(std::string_view(head).substr(0, limits.header_bytes_max - 1)),
            parse_status::need_more);
  // With the limit seen and no end yet, the section is already too large: no need to wait.
  EXPECT_EQ(parser.parse(std::string_view(head).substr(0, limits.header_bytes_max)),
            parse_status::error);
  EXPECT_EQ(parser.error_status(), 431);

  // A single endless header line is stopped at the limit too.
  http_parser endless(limits);
  std::string line = "GET / HTTP/1.1\r\nX: " + std::string(limits.header_bytes_max, 'x');
  EXPECT_EQ(endless.parse(line), parse_status::error);
  EXPECT_EQ(endless.error_status(), 431);
}

std::string head_with_fields(std::size_t count) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::size_t i = 1; i < count; ++i)
    head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

TEST(http_parser, header_count_limit) {
  parse_limits limits;
  http_parser at_limit(limits);
  EXPECT_EQ(at_limit.parse(head_with_fields(limits.header_count_max)), parse_status::complete);
  EXPECT_EQ(at_limit.request().headers.size(), limits.header_count_max);

  http_parser over(limits);
  std::string head = head_with_fields(limits.header_count_max + 1);
  // Detected at the extra field line, without waiting for the end of the section.
  EXPECT_EQ(over.parse(std::string_view(head).substr(0, head.size() - 2)), parse_status::error);
  EXPECT_EQ(over.error_status(), 431);
}

TEST(http_parser, content_length_limit_is_checked_before_the_body) {
  parse_limits limits;
  limits.body_bytes_max = 16;
  http_parser at_limit(limits);
  EXPECT_EQ(at_limit.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n"
                           "0123456789abcdef"),
            parse_status::complete);

  http_parser over(limits);
  EXPECT_EQ(over.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n"),
            parse_status::error);
  EXPECT_EQ(over.error_status(), 413);
}

TEST(http_parser, chunked_body_limit_counts_the_sum_of_chunks) {
  parse_limits limits;
  limits.body_bytes_max = 16;
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  http_parser at_limit(limits);
  EXPECT_EQ(at_limit.parse(head + "a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n"),
            parse_status::complete);
  EXPECT_EQ(at_limit.request().body, "0123456789abcdef");

  http_parser over(limits);
  // The second chunk's size line alone pushes the sum over the limit: no data needed.
  EXPECT_EQ(over.parse(head + "a\r\n0123456789\r\n7\r\n"), parse_status::error);
  EXPECT_EQ(over.error_status(), 413);
}

TEST(http_parser, chunked_body_of_a_megabyte_within_default_limit) {
  parse_limits limits;
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string expected;
  for (int i = 0; i < 256; ++i) {
    std::string data(4096, static_cast<char>('a' + i % 26));
    input += "1000\r\n" + data + "\r\n";
    expected += data;
  }
  input += "0\r\n\r\n";
  http_parser parser(limits);
  ASSERT_EQ(parser.parse(input), parse_status::complete) << parser.error_detail();
  EXPECT_EQ(parser.request().body.size(), limits.body_bytes_max);
  EXPECT_EQ(parser.request().body, expected);

  input.insert(input.size() - 5, "1\r\nx\r\n");
  http_parser over(limits);
  EXPECT_EQ(over.parse(input), parse_status::error);
  EXPECT_EQ(over.error_status(), 413);
}

TEST(http_parser, chunk_line_limit) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string extension = ";x=" + std::string(core::limits::chunk_line_bytes_max, 'e');
  http_parser parser(parse_limits{});
  EXPECT_EQ(parser.parse(head + "1" + extension), parse_status::error);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(http_parser, trailer_section_limit) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  std::string trailer = "X-T: " + std::string(core::limits::trailer_bytes_max, 't');
  http_parser parser(parse_limits{});
  EXPECT_EQ(parser.parse(head + trailer), parse_status::error);
  EXPECT_EQ(parser.error_status(), 431);

  http_parser small(parse_limits{});
  EXPECT_EQ(small.parse(head + "X-T: " + std::string(100, 't') + "\r\n\r\n"),
            parse_status::complete);
  // Trailer fields are discarded, not merged into the headers.
  EXPECT_EQ(small.request().header("X-T"), "");
}

// --- Pipelining, reuse, buffer moves ------------------------------------------------------------

TEST(http_parser, parses_pipelined_requests_from_one_buffer) {
  const std::string buffer = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
                             "\r\n" // an empty line between requests is tolerated
                             "POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n\r\n"
                             "GET /fo";
  http_parser parser(parse_limits{});
  std::string_view rest = buffer;
  std::vector<std::pair<std::string, std::string>> seen;
  for (;;) {
    auto status = parser.parse(rest);
    if (status != parse_status::complete) {
      EXPECT_EQ(status, parse_status::need_more);
      break;
    }
    seen.emplace_back(parser.request().target, parser.request().body);
    ASSERT_GT(parser.consumed(), 0u);
    ASSERT_LE(parser.consumed(), rest.size());
    rest.remove_prefix(parser.consumed());
    parser.reset();
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"/one", ""}));
  EXPECT_EQ(seen[1], (std::pair<std::string, std::string>{"/two", "body"}));
  EXPECT_EQ(seen[2], (std::pair<std::string, std::string>{"/three", "abc"}));
  EXPECT_EQ(rest, "GET /fo");
  EXPECT_TRUE(parser.in_progress());
}

TEST(http_parser, reuses_its_buffers_across_reset) {
  const std::string input = "POST / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  http_parser parser(parse_limits{});
  ASSERT_EQ(parser.parse(input), parse_status::complete);
  const auto* headers_storage = parser.request().headers.data();
  const auto* body_storage = parser.request().body.data();
  for (int i = 0; i < 3; ++i) {
    parser.reset();
    ASSERT_EQ(parser.parse(input), parse_status::complete);
    EXPECT_EQ(parser.request().headers.data(), headers_storage);
    EXPECT_EQ(parser.request().body.data(), body_storage);
    EXPECT_EQ(parser.request().body, "hello");
  }
}

TEST(http_parser, chunked_body_has_simdjson_padding) {
  http_parser parser(parse_limits{});
  ASSERT_EQ(parser.parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "2\r\n{}\r\n0\r\n\r\n"),
            parse_status::complete);
  auto body = parser.request().body;
  ASSERT_EQ(body, "{}");
  // Readable (ASan would flag it otherwise) and initialised.
  int sum = 0;
  for (std::size_t i = 0; i < body_padding_bytes; ++i)
    sum += body.data()[body.size() + i];
  EXPECT_EQ(sum, 0);

  http_parser empty(parse_limits{});
  ASSERT_EQ(empty.parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "0\r\n\r\n"),
            parse_status::complete);
  ASSERT_NE(empty.request().body.data(), nullptr);
  EXPECT_EQ(empty.request().body.data()[body_padding_bytes - 1], 0);
}

TEST(http_parser, head_views_follow_a_moved_buffer) {
  http_parser parser(parse_limits{});
  std::string first = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab";
  ASSERT_EQ(parser.parse(first), parse_status::need_more);
  ASSERT_TRUE(parser.headers_complete());
  EXPECT_EQ(parser.request().header("Host"), "a");

  std::string moved = first + "cd";
  first.assign(first.size(), '#'); // the old bytes must no longer be read
  ASSERT_EQ(parser.parse(moved), parse_status::complete);
  const auto& request = parser.request();
  EXPECT_EQ(request.target, "/x");
  EXPECT_EQ(request.header("Host"), "a");
  EXPECT_EQ(request.body, "abcd");
  EXPECT_EQ(request.target.data(), moved.data() + 5);
}

TEST(http_parser, progress_flags) {
  http_parser parser(parse_limits{});
  EXPECT_FALSE(parser.in_progress());
  EXPECT_EQ(parser.parse("\r\n"), parse_status::need_more);
  EXPECT_FALSE(parser.in_progress()); // an empty line before a request is not part of one
  EXPECT_EQ(parser.parse("\r\nP"), parse_status::need_more);
  EXPECT_TRUE(parser.in_progress());
  EXPECT_FALSE(parser.headers_complete());
  const std::string head = "\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n";
  EXPECT_EQ(parser.parse(head), parse_status::need_more);
  EXPECT_TRUE(parser.headers_complete());
  EXPECT_EQ(parser.parse(head + "ok"), parse_status::complete);
  EXPECT_EQ(parser.consumed(), head.size() + 2);
  parser.reset();
  EXPECT_FALSE(parser.in_progress());
  EXPECT_FALSE(parser.headers_complete());
  EXPECT_EQ(parser.consumed(), 0u);
}

TEST(http_parser, reset_after_error_parses_a_fresh_request) {
  http_parser parser(parse_limits{});
  EXPECT_EQ(parser.parse("GET / HTTP/2.0\r\n"), parse_status::error);
  EXPECT_EQ(parser.error_status(), 505);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), parse_status::error);
  parser.reset();
  EXPECT_EQ(parser.error_status(), 0);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), parse_status::complete);
}

// --- Linear work --------------------------------------------------------------------------------

/// Feeds `raw` one byte more per call and returns how many bytes the parser examined.
std::uint64_t examined_byte_by_byte(std::string_view raw, parse_status expected,
                                    const parse_limits& limits) {
  http_parser parser(limits);
  auto status = parse_status::need_more;
  for (std::size_t size = 1; size <= raw.size() && status == parse_status::need_more; ++size)
    status = parser.parse(raw.substr(0, size));
  EXPECT_EQ(status, expected) << parser.error_detail();
  return parser.bytes_examined();
}

TEST(http_parser, byte_by_byte_header_section_of_16_kib_is_linear) {
  parse_limits limits;
  limits.header_bytes_max = core::limits::header_bytes_max;
  std::string head = head_of_size(16 * 1024);
  std::uint64_t examined = examined_byte_by_byte(head, parse_status::complete, limits);
  // Each byte is found by the LF scan once and validated once; rescanning from the start on each
  // call would examine about size^2 / 2 bytes instead (over 130 million here).
  EXPECT_LE(examined, 3 * head.size());
  EXPECT_GE(examined, head.size());
}

TEST(http_parser, byte_by_byte_long_single_header_is_linear) {
  parse_limits limits;
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(12000, 'l') + "\r\n\r\n";
  EXPECT_LE(examined_byte_by_byte(head, parse_status::complete, limits), 3 * head.size());
}

TEST(http_parser, byte_by_byte_chunked_body_is_linear) {
  parse_limits limits;
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 200; ++i)
    input += "40;ext=1\r\n" + std::string(64, 'c') + "\r\n";
  input += "0\r\nX: y\r\n\r\n";
  EXPECT_LE(examined_byte_by_byte(input, parse_status::complete, limits), 3 * input.size());
}

// --- Shared message helpers ---------------------------------------------------------------------

TEST(http_message, method_names) {
  EXPECT_EQ(to_string(http_method::get), "GET");
  EXPECT_EQ(to_string(http_method::head), "HEAD");
  EXPECT_EQ(to_string(http_method::post), "POST");
  EXPECT_EQ(to_string(http_method::put), "PUT");
  EXPECT_EQ(to_string(http_method::patch), "PATCH");
  EXPECT_EQ(to_string(http_method::delete_), "DELETE");
  EXPECT_EQ(to_string(http_method::options), "OPTIONS");
  EXPECT_EQ(to_string(http_method::other), "OTHER");
}

TEST(http_message, iequals_is_ascii_case_insensitive) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Host", "Hos"));
  EXPECT_FALSE(iequals("Host", "Hosu"));
  // Only ASCII letters fold: '@' and '`' differ by the case bit but are not letters.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\xc3\xa9", "\xc3\x89"));
}

TEST(http_message, header_returns_the_first_match) {
  http_request request;
  request.headers = {{"X-A", "1"}, {"x-a", "2"}, {"B", ""}};
  EXPECT_EQ(request.header("x-A"), "1");
  EXPECT_EQ(request.header("b"), "");
  EXPECT_EQ(request.header("c"), "");
}

} // namespace
} // namespace steward::net
