#include "net/http_serializer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::net {
namespace {

constexpr std::string_view date = "Sun, 06 Nov 1994 08:49:37 GMT";

std::string date_for(std::int64_t unix_seconds) {
  char out[http_date_size];
  format_http_date(unix_seconds, out);
  return std::string(out, sizeof out);
}

std::string serialize(const http_response& response, bool close = false, bool head = false) {
  std::string out;
  append_response(out, response, close, head, date);
  return out;
}

http_response json_response(std::uint16_t status, std::string body) {
  http_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

TEST(format_http_date, matches_imf_fixdate) {
  EXPECT_EQ(date_for(784111777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's own example
  EXPECT_EQ(date_for(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(date_for(1700000000), "Tue, 14 Nov 2023 22:13:20 GMT");
}

TEST(format_http_date, handles_leap_years_and_centuries) {
  EXPECT_EQ(date_for(951782400), "Tue, 29 Feb 2000 00:00:00 GMT"); // divisible by 400: leap
  EXPECT_EQ(date_for(951868800), "Wed, 01 Mar 2000 00:00:00 GMT");
  EXPECT_EQ(date_for(4107456000), "Sun, 28 Feb 2100 00:00:00 GMT"); // divisible by 100: not leap
  EXPECT_EQ(date_for(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");
}

TEST(format_http_date, clamps_to_four_digit_years_after_1970) {
  EXPECT_EQ(date_for(-1), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(date_for(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(date_for(INT64_MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(append_response, json_200_byte_exact) {
  EXPECT_EQ(serialize(json_response(200, R"({"ok":true})")),
            "HTTP/1.1 200 OK\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 11\r\n"
            "\r\n"
            R"({"ok":true})");
}

TEST(append_response, extra_headers_in_order_then_connection_close) {
  auto response = json_response(429, "{}");
  response.content_type = "application/problem+json";
  response.headers = {{"Retry-After", "3"}, {"Idempotent-Replayed", "true"}};
  EXPECT_EQ(serialize(response, /*close=*/true),
            "HTTP/1.1 429 Too Many Requests\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: application/problem+json\r\n"
            "Content-Length: 2\r\n"
            "Retry-After: 3\r\n"
            "Idempotent-Replayed: true\r\n"
            "Connection: close\r\n"
            "\r\n"
            "{}");
}

TEST(append_response, empty_body_has_no_content_type) {
  EXPECT_EQ(serialize(json_response(200, "")),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
}

TEST(append_response, head_states_the_length_without_the_body) {
  EXPECT_EQ(serialize(json_response(200, "12345"), false, /*head=*/true),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: application/json\r\nContent-Length: 5\r\n\r\n");
  // A HEAD handler that did not build the body still announces its content type.
  EXPECT_EQ(serialize(json_response(200, ""), false, /*head=*/true),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n");
}

TEST(append_response, no_content_and_not_modified_have_no_length_and_no_body) {
  EXPECT_EQ(serialize(json_response(204, "ignored")),
            "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  auto not_modified = json_response(304, "");
  not_modified.headers = {{"ETag", "\"v1\""}};
  EXPECT_EQ(serialize(not_modified, true),
            "HTTP/1.1 304 Not Modified\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "ETag: \"v1\"\r\nConnection: close\r\n\r\n");
}

TEST(append_response, unknown_status_gets_unknown_reason) {
  EXPECT_EQ(serialize(json_response(299, "")),
            "HTTP/1.1 299 Unknown\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
}

TEST(append_response, appends_after_existing_output) {
  std::string out = "previous";
  append_response(out, json_response(200, "a"), false, false, date);
  append_response(out, json_response(404, "b"), false, false, date);
  const std::string one = "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                          "Content-Type: application/json\r\nContent-Length: 1\r\n\r\na";
  const std::string two = "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                          "Content-Type: application/json\r\nContent-Length: 1\r\n\r\nb";
  EXPECT_EQ(out, "previous" + one + two);
}

TEST(append_response, large_body_length) {
  auto response = json_response(201, std::string(1234567, 'x'));
  auto out = serialize(response);
  EXPECT_NE(out.find("\r\nContent-Length: 1234567\r\n"), std::string::npos);
  EXPECT_EQ(out.size(), out.find("\r\n\r\n") + 4 + 1234567);
}

// Injecting CR or LF through a header value would let a handler bug forge headers or a whole
// second response. The header is dropped and counted; debug builds abort (STEWARD_SURVIVABLE).
TEST(append_response, drops_headers_that_could_split_the_response) {
  auto response = json_response(200, "");
  response.headers = {{"X-Ok", "1"},
                      {"X-Bad", "a\r\nSet-Cookie: evil=1"},
                      {"X-Lf", "a\nb"},
                      {"Bad Name", "v"},
                      {"Content-Length", "5"},
                      {"X-Ok2", "2"}};
#ifdef NDEBUG
  const auto dropped_before = dropped_response_headers();
  EXPECT_EQ(serialize(response),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n"
            "X-Ok: 1\r\nX-Ok2: 2\r\n\r\n");
  EXPECT_EQ(dropped_response_headers() - dropped_before, 4u);

  auto bad_type = json_response(200, "{}");
  bad_type.content_type = "text/html\r\nX-Injected: 1";
  EXPECT_EQ(serialize(bad_type),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(dropped_response_headers() - dropped_before, 5u);
#else
  EXPECT_DEATH(serialize(response), "unexpected condition");
#endif
}

TEST(reason_phrase, common_codes) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(101), "Switching Protocols");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(201), "Created");
  EXPECT_EQ(reason_phrase(202), "Accepted");
  EXPECT_EQ(reason_phrase(204), "No Content");
  EXPECT_EQ(reason_phrase(206), "Partial Content");
  EXPECT_EQ(reason_phrase(301), "Moved Permanently");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(402), "Payment Required");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(409), "Conflict");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(422), "Unprocessable Content");
  EXPECT_EQ(reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(0), "Unknown");
}

TEST(reason_phrase, every_listed_range_is_known) {
  for (std::uint16_t status : {100, 101}) {
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  }
  for (std::uint16_t status = 200; status <= 206; ++status)
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  for (std::uint16_t status = 301; status <= 308; ++status) {
    if (status != 306) { // 306 is unused (RFC 9110 15.4.7)
      EXPECT_NE(reason_phrase(status), "Unknown") << status;
    }
  }
  for (std::uint16_t status = 400; status <= 418; ++status)
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  for (std::uint16_t status : {421, 422, 423, 424, 425, 426, 428, 429, 431})
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  for (std::uint16_t status = 500; status <= 505; ++status)
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
}

} // namespace
} // namespace steward::net
