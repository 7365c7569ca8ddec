#include "bench/steward_bench/http_response.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::bench {
namespace {

TEST(http_response, complete_response_with_body) {
  const std::string bytes = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                            "Content-Length: 11\r\n\r\n{\"id\":\"x\"}\nHTTP/1.1";
  http_response r;
  ASSERT_EQ(parse_response(bytes, r), response_parse::complete);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"id\":\"x\"}\n");
  EXPECT_EQ(r.size, bytes.size() - 8); // the next response's first bytes are left alone
  EXPECT_FALSE(r.close);
}

TEST(http_response, every_prefix_is_incomplete) {
  const std::string bytes = "HTTP/1.1 402 Payment Required\r\ncontent-length:  4 \r\n\r\nabcd";
  http_response r;
  for (std::size_t n = 0; n < bytes.size(); ++n)
    ASSERT_EQ(parse_response(std::string_view(bytes).substr(0, n), r), response_parse::incomplete)
      << n;
  ASSERT_EQ(parse_response(bytes, r), response_parse::complete);
  EXPECT_EQ(r.status, 402);
  EXPECT_EQ(r.body, "abcd");
}

TEST(http_response, connection_close_and_http10) {
  http_response r;
  ASSERT_EQ(parse_response("HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, Close\r\n"
                           "Content-Length: 0\r\n\r\n",
                           r),
            response_parse::complete);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(r.status, 503);
  ASSERT_EQ(parse_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", r),
            response_parse::complete);
  EXPECT_TRUE(r.close);
  ASSERT_EQ(parse_response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                           r),
            response_parse::complete);
  EXPECT_FALSE(r.close);
}

TEST(http_response, malformed_heads_are_refused) {
  http_response r;
  for (std::string_view bad : {
         "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 200 OK\r\n\r\n",                                      // no framing
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", // not supported
         "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
       })
    EXPECT_EQ(parse_response(bad, r), response_parse::malformed) << bad;
  EXPECT_EQ(parse_response(std::string(response_head_bytes_max + 1, 'a'), r),
            response_parse::malformed);
  ASSERT_EQ(parse_response("HTTP/1.1 204 No Content\r\n\r\n", r), response_parse::complete);
  EXPECT_EQ(r.body.size(), 0u);
}

} // namespace
} // namespace steward::bench
