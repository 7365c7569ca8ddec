#include "net/http_response_parser.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace steward::net {
namespace {

struct outcome {
  response_parse_status status = response_parse_status::need_more;
  response_parse_error error = response_parse_error::none;
  std::size_t consumed = 0;
  parsed_response response;
};

/// Feeds `raw` in one piece, then reports end of stream when `close` and still unfinished.
outcome parse_whole(std::string_view raw, bool close = false, const response_limits& limits = {},
                    bool head_request = false) {
  http_response_parser parser(limits);
  parser.reset(head_request);
  outcome result;
  // A copy in its own allocation, so ASan catches a view kept into it after the call.
  auto input = std::make_unique<std::string>(raw);
  result.status = parser.feed(*input, result.consumed);
  input.reset();
  if (close && result.status == response_parse_status::need_more)
    result.status = parser.finish();
  result.error = parser.error();
  if (result.status == response_parse_status::complete)
    result.response = parser.take_response();
  return result;
}

/// Feeds one byte per call, each in a fresh buffer that is freed right after.
outcome parse_bytewise(std::string_view raw, bool close = false,
                       const response_limits& limits = {}) {
  http_response_parser parser(limits);
  outcome result;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto byte = std::make_unique<char>(raw[i]);
    std::size_t used = 0;
    result.status = parser.feed(std::string_view(byte.get(), 1), used);
    result.consumed += used;
    if (result.status != response_parse_status::need_more)
      break;
  }
  if (close && result.status == response_parse_status::need_more)
    result.status = parser.finish();
  result.error = parser.error();
  if (result.status == response_parse_status::complete)
    result.response = parser.take_response();
  return result;
}

void expect_same(const outcome& a, const outcome& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.consumed, b.consumed);
  EXPECT_EQ(a.response.status, b.response.status);
  EXPECT_EQ(a.response.headers, b.response.headers);
  EXPECT_EQ(a.response.body, b.response.body);
  EXPECT_EQ(a.response.keep_alive, b.response.keep_alive);
}

TEST(HttpResponseParser, ContentLengthBody) {
  const std::string raw =
    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  auto result = parse_whole(raw);
  ASSERT_EQ(result.status, response_parse_status::complete);
  EXPECT_EQ(result.consumed, raw.size());
  EXPECT_EQ(result.response.status, 201);
  EXPECT_EQ(result.response.reason, "Created");
  EXPECT_EQ(result.response.header("content-type"), "application/json");
  EXPECT_EQ(result.response.body, "{\"a\":1}");
  EXPECT_TRUE(result.response.keep_alive);
  expect_same(parse_bytewise(raw), result);
}

TEST(HttpResponseParser, StopsAtTheEndOfTheResponseAndReportsWhatItUsed) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  auto result = parse_whole(first + "HTTP/1.1 200 OK\r\n");
  ASSERT_EQ(result.status, response_parse_status::complete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(result.response.body, "hi");
}

TEST(HttpResponseParser, WaitsForTheWholeBody) {
  auto result = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc");
  EXPECT_EQ(result.status, response_parse_status::need_more);
  EXPECT_EQ(result.consumed, 41u);
  auto closed = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", true);
  EXPECT_EQ(closed.status, response_parse_status::error);
  EXPECT_EQ(closed.error, response_parse_error::truncated);
}

TEST(HttpResponseParser, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5;name=value\r\nhello\r\n"
                          "A \r\n, chunked!\r\n"
                          "0\r\nTrailer-Field: x\r\n\r\n";
  auto result = parse_whole(raw);
  ASSERT_EQ(result.status, response_parse_status::complete);
  EXPECT_EQ(result.consumed, raw.size());
  EXPECT_EQ(result.response.body, "hello, chunked!");
  EXPECT_TRUE(result.response.header("trailer-field").empty()); // trailers are not kept
  expect_same(parse_bytewise(raw), result);
}

TEST(HttpResponseParser, ChunkedFramingErrors) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string_view body : {"x\r\n", "5\r\nhello!\r\n0\r\n\r\n", "5 x\r\nhello\r\n",
                                "1000000000000000\r\n", "5\nhello\r\n0\r\n\r\n"}) {
    auto result = parse_whole(head + std::string(body));
    EXPECT_EQ(result.status, response_parse_status::error) << body;
    EXPECT_EQ(result.error, response_parse_error::malformed) << body;
  }
  // Closing in the middle of a chunked body is a truncation, not the end of the body.
  auto truncated = parse_whole(head + "5\r\nhel", true);
  EXPECT_EQ(truncated.error, response_parse_error::truncated);
}

TEST(HttpResponseParser, CloseDelimitedBodyEndsAtFinish) {
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
  auto open = parse_whole(raw);
  EXPECT_EQ(open.status, response_parse_status::need_more);
  auto result = parse_whole(raw, true);
  ASSERT_EQ(result.status, response_parse_status::complete);
  EXPECT_EQ(result.response.body, "until the end");
  EXPECT_FALSE(result.response.keep_alive);
  expect_same(parse_bytewise(raw, true), result);
}

TEST(HttpResponseParser, InterimResponsesAreSkipped) {
  const std::string raw = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                          "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  auto result = parse_whole(raw);
  ASSERT_EQ(result.status, response_parse_status::complete);
  EXPECT_EQ(result.response.status, 200);
  EXPECT_EQ(result.response.body, "ok");
  ASSERT_EQ(result.response.headers.size(), 1u); // the interim fields are gone
  expect_same(parse_bytewise(raw), result);

  std::string many;
  for (std::uint32_t i = 0; i <= core::limits::client_interim_responses_max; ++i)
    many += "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(parse_whole(many).error, response_parse_error::malformed);
  EXPECT_EQ(parse_whole("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").error,
            response_parse_error::malformed);
}

TEST(HttpResponseParser, NoBodyForHeadAnd204And304) {
  const std::string head_answer = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  auto head = parse_whole(head_answer, false, {}, true);
  ASSERT_EQ(head.status, response_parse_status::complete);
  EXPECT_EQ(head.consumed, head_answer.size());
  EXPECT_TRUE(head.response.body.empty());
  // The same bytes for a GET wait for the body.
  EXPECT_EQ(parse_whole(head_answer).status, response_parse_status::need_more);

  for (std::string_view raw : {"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
                               "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"}) {
    auto result = parse_whole(raw);
    ASSERT_EQ(result.status, response_parse_status::complete) << raw;
    EXPECT_EQ(result.consumed, raw.size());
    EXPECT_TRUE(result.response.keep_alive);
  }
}

TEST(HttpResponseParser, KeepAliveFollowsVersionAndConnection) {
  EXPECT_FALSE(parse_whole("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                 .response.keep_alive);
  EXPECT_FALSE(parse_whole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").response.keep_alive);
  auto kept = parse_whole("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(kept.status, response_parse_status::complete);
  EXPECT_TRUE(kept.response.keep_alive);
  EXPECT_EQ(kept.response.version_minor, 0);
}

TEST(HttpResponseParser, RejectsAmbiguousFraming) {
  for (std::string_view raw : {
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
       }) {
    auto result = parse_whole(raw);
    EXPECT_EQ(result.status, response_parse_status::error) << raw;
    EXPECT_EQ(result.error, response_parse_error::malformed) << raw;
  }
  // The same Content-Length twice says one thing and is accepted.
  auto same = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(same.status, response_parse_status::complete);
}

TEST(HttpResponseParser, RejectsMalformedHeads) {
  for (std::string_view raw : {
         "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",       // bare LF
         "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",       // obs-fold
         "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",                 // space before the colon
         "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
         "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",               // CR inside a value
         "HTTP/2.0 200 OK\r\n\r\n",
         "HTTP/1.1 20 OK\r\n\r\n",
         "HTTP/1.1 600 Odd\r\n\r\n",
         "HTTP/1.1 2000 OK\r\n\r\n",
         "ICY 200 OK\r\n\r\n",
       }) {
    auto result = parse_whole(raw);
    EXPECT_EQ(result.status, response_parse_status::error) << raw;
    EXPECT_EQ(result.error, response_parse_error::malformed) << raw;
  }
  // A status line without a reason (and without its final space) is accepted.
  auto bare = parse_whole("HTTP/1.1 204\r\n\r\n");
  ASSERT_EQ(bare.status, response_parse_status::complete);
  EXPECT_EQ(bare.response.status, 204);
}

TEST(HttpResponseParser, EnforcesHeadLimits) {
  response_limits limits;
  limits.header_bytes_max = 64;
  limits.header_count_max = 2;
  const std::string long_field = "HTTP/1.1 200 OK\r\nX: " + std::string(60, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse_whole(long_field, false, limits).error, response_parse_error::head_too_large);
  EXPECT_EQ(parse_bytewise(long_field, false, limits).error, response_parse_error::head_too_large);
  EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false, limits).error,
            response_parse_error::head_too_large);
  // Exactly at the limit passes.
  const std::string at_limit = "HTTP/1.1 204 OK\r\nA: 1\r\nB: " + std::string(34, 'b') + "\r\n\r\n";
  ASSERT_EQ(at_limit.size(), 64u);
  EXPECT_EQ(parse_whole(at_limit, false, limits).status, response_parse_status::complete);
  // A head that never ends is stopped at the limit, not buffered for ever.
  EXPECT_EQ(parse_whole(std::string(100, 'H'), false, limits).error,
            response_parse_error::head_too_large);
}

TEST(HttpResponseParser, EnforcesTheBodyLimitForEveryFraming) {
  response_limits limits;
  limits.body_bytes_max = 4;
  EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, limits).error,
            response_parse_error::body_too_large);
  EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", false, limits).status,
            response_parse_status::complete);
  EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n2\r\nde\r\n",
                        false, limits)
              .error,
            response_parse_error::body_too_large);
  EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\n\r\nabcde", true, limits).error,
            response_parse_error::body_too_large);
  EXPECT_EQ(parse_bytewise("HTTP/1.1 200 OK\r\n\r\nabcde", true, limits).error,
            response_parse_error::body_too_large);
}

TEST(HttpResponseParser, ResetMakesItReusableAndStartedTracksBytes) {
  http_response_parser parser;
  EXPECT_FALSE(parser.started());
  std::size_t used = 0;
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n", used), response_parse_status::error);
  EXPECT_TRUE(parser.started());
  EXPECT_FALSE(parser.error_detail().empty());
  // An errored parser keeps answering the same.
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\n\r\n", used), response_parse_status::error);
  parser.reset();
  EXPECT_FALSE(parser.started());
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", used),
            response_parse_status::complete);
  EXPECT_EQ(parser.response().status, 200);
  // Closing before any byte is a truncation too (the client treats it as a lost connection).
  parser.reset();
  EXPECT_EQ(parser.finish(), response_parse_status::error);
  EXPECT_EQ(parser.error(), response_parse_error::truncated);
}

} // namespace
} // namespace steward::net
