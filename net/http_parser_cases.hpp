#pragma once

// Raw requests and what the parser must make of them, under default `parse_limits`. One table
// serves the unit tests (net/http_parser.test.cpp) and the fuzzer's seed corpus
// (net/http_parser.fuzz.cpp), so every rule that is tested is also a starting point for fuzzing.
// Cases that need large inputs (the 431 limits, big bodies) are generated in the test instead.

#include "net/http_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace steward::net::parser_cases {

// The `sv` suffix keeps embedded NUL bytes, which a plain `const char*` conversion would cut off.
using namespace std::string_view_literals;

struct parse_case {
  std::string_view name; ///< unique, usable as a file name
  std::string_view raw;  ///< the bytes a client sends
  parse_status status;
  std::uint16_t error_status = 0; ///< for `error`
  std::string_view body = {};     ///< for `complete`: the body after de-chunking
  std::size_t consumed = 0;       ///< for `complete`: bytes of `raw` the request occupies; 0 = all
};

constexpr parse_case accept(std::string_view name, std::string_view raw, std::string_view body = {},
                            std::size_t consumed = 0) {
  return {name, raw, parse_status::complete, 0, body, consumed};
}
constexpr parse_case need_more(std::string_view name, std::string_view raw) {
  return {name, raw, parse_status::need_more};
}
constexpr parse_case reject(std::string_view name, std::string_view raw, std::uint16_t status) {
  return {name, raw, parse_status::error, status};
}

#define STEWARD_CASE_GET_A "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define STEWARD_CASE_POST_B "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
#define STEWARD_CASE_CHUNKED_HEAD "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

inline constexpr parse_case cases[] = {
  // --- Accepted -------------------------------------------------------------------------------
  accept("get_minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("get_healthz_typical",
         "GET /healthz HTTP/1.1\r\nHost: steward.example:8080\r\nUser-Agent: curl/8.4.0\r\n"
         "Accept: */*\r\nAccept-Encoding: gzip, br\r\nConnection: keep-alive\r\n"
         "X-Request-Id: 7f9c2a\r\n\r\n"),
  accept("get_query", "GET /v1/catalog?provider=cf&q=dns HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("get_percent_encoded", "GET /v1/users/a%2Fb%20c HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("http10_without_host", "GET / HTTP/1.0\r\n\r\n"),
  accept("http10_with_host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
  accept("options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("unknown_method", "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("lowercase_method_is_other", "get / HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("leading_empty_lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("leading_empty_lines_at_limit", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
  accept("host_with_port", "GET / HTTP/1.1\r\nHost: api.example.com:8443\r\n\r\n"),
  accept("host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
  accept("host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
  accept("value_whitespace_trimmed", "GET / HTTP/1.1\r\nHost: \t a \t\r\nX-A:b\r\n\r\n"),
  accept("value_inner_tab_and_space", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\tc d\r\n\r\n"),
  accept("value_obs_text", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n"),
  accept("value_empty", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \r\n\r\n"),
  accept("post_content_length",
         "POST /v1/resources HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "hello"),
  accept("content_length_zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
  accept("content_length_leading_zeros",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0003\r\n\r\nabc", "abc"),
  accept("content_length_name_case",
         "POST / HTTP/1.1\r\nHost: a\r\ncOnTeNt-LeNgTh: 2\r\n\r\nhi", "hi"),
  accept("http10_content_length", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", "hi"),
  accept("chunked_simple",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
         "hello world"),
  accept("chunked_case_insensitive",
         "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n"
         "0\r\n\r\n",
         "0123456789"),
  accept("chunked_size_leading_zeros",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n"
         "000\r\n\r\n",
         "abc"),
  accept("chunked_extensions",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3;name=value;flag\r\nabc\r\n2 ; q = \"a \\\" b\"\r\nde\r\n0;last\r\n\r\n",
         "abcde"),
  accept("chunked_trailers",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
         "hi"),
  accept("chunked_empty_body",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
  accept("chunked_binary_data",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "4\r\n\r\n\0\n\r\n0\r\n\r\n"sv,
         "\r\n\0\n"sv),
  accept("connection_list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\r\n"),
  accept("pipelined_two_get", STEWARD_CASE_GET_A STEWARD_CASE_GET_A, "",
         sizeof(STEWARD_CASE_GET_A) - 1),
  accept("pipelined_post_then_get", STEWARD_CASE_POST_B STEWARD_CASE_GET_A, "abc",
         sizeof(STEWARD_CASE_POST_B) - 1),
  accept("pipelined_chunked_then_get",
         STEWARD_CASE_CHUNKED_HEAD "1\r\nz\r\n0\r\n\r\n" STEWARD_CASE_GET_A, "z",
         sizeof(STEWARD_CASE_CHUNKED_HEAD "1\r\nz\r\n0\r\n\r\n") - 1),

  // --- Incomplete -----------------------------------------------------------------------------
  need_more("empty", ""),
  need_more("only_empty_line", "\r\n"),
  need_more("lone_cr", "\r"),
  need_more("partial_request_line", "GET /healthz HT"),
  need_more("partial_headers", "GET / HTTP/1.1\r\nHost: a\r\n"),
  need_more("partial_final_crlf", "GET / HTTP/1.1\r\nHost: a\r\n\r"),
  need_more("partial_body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello"),
  need_more("partial_chunk_data",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
  need_more("missing_last_chunk",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
  need_more("missing_trailer_end",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n"),

  // --- Line endings ---------------------------------------------------------------------------
  reject("bare_lf_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
  reject("bare_lf_header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
  reject("bare_lf_end_of_head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
  reject("lf_only_line_endings", "GET / HTTP/1.1\nHost: a\n\n", 400),
  reject("bare_cr_in_header", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
  reject("bare_cr_in_request_line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("cr_cr_lf", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400),
  reject("leading_bare_lf", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("leading_bare_cr", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("too_many_leading_empty_lines",
         "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),

  // --- Request line ---------------------------------------------------------------------------
  reject("double_space_after_method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("double_space_before_version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("trailing_space_after_version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
  reject("tab_separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("leading_space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("method_invalid_char", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("missing_target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("http09_request", "GET /\r\n\r\n", 400),
  reject("absolute_form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("authority_form", "CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("asterisk_not_options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("asterisk_with_path", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("target_del", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("target_ctl", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("target_nul", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"sv, 400),
  reject("target_non_ascii", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  reject("version_lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
  reject("version_two_digit_minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
  reject("version_no_dot", "GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
  reject("version_short", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
  reject("version_letter", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
  reject("version_http2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
  reject("version_http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
  reject("version_http09", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
  reject("version_http3", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),

  // --- Header fields --------------------------------------------------------------------------
  reject("missing_host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
  reject("duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
  reject("duplicate_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
  reject("host_with_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
  reject("host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
  reject("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
  reject("tab_before_colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n", 400),
  reject("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
  reject("obs_fold_tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400),
  reject("whitespace_before_first_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
  reject("field_without_colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A b\r\n\r\n", 400),
  reject("field_empty_name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
  reject("field_name_invalid_char", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400),
  reject("field_name_non_ascii", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", 400),
  reject("value_ctl", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01" "c\r\n\r\n", 400),
  reject("value_del", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n", 400),
  reject("value_nul", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"sv, 400),
  reject("value_vertical_tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\vc\r\n\r\n", 400),

  // --- Framing and smuggling ------------------------------------------------------------------
  reject("content_length_and_transfer_encoding",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n",
         400),
  reject("transfer_encoding_and_content_length",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
         "0\r\n\r\n",
         400),
  reject("transfer_encoding_space_before_colon",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
  reject("content_length_space_before_colon",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400),
  reject("duplicate_content_length_equal",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
  reject("duplicate_content_length_different",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
  reject("content_length_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
         400),
  reject("content_length_negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
         400),
  reject("content_length_plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
         400),
  reject("content_length_hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
         400),
  reject("content_length_decimal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n",
         400),
  reject("content_length_inner_space",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
  reject("content_length_empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
  reject("content_length_overflow",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400),
  reject("content_length_huge_overflow",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400),
  reject("transfer_encoding_chunked_identity",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
         400),
  reject("transfer_encoding_identity",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
  reject("transfer_encoding_gzip_only",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
  reject("transfer_encoding_chunked_twice",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
  reject("transfer_encoding_two_lines_chunked",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400),
  reject("transfer_encoding_trailing_comma",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400),
  reject("transfer_encoding_empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
         400),
  reject("transfer_encoding_chunked_parameter",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
  reject("transfer_encoding_http10",
         "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
  reject("transfer_encoding_gzip_chunked",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
  reject("transfer_encoding_two_lines_gzip_chunked",
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
         "\r\n0\r\n\r\n",
         501),
  reject("content_length_above_limit",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
  reject("content_length_above_limit_with_transfer_encoding",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\nTransfer-Encoding: chunked\r\n"
         "\r\n",
         400),

  // --- Chunked body ---------------------------------------------------------------------------
  reject("chunk_size_overflow",
         STEWARD_CASE_CHUNKED_HEAD "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_above_limit", STEWARD_CASE_CHUNKED_HEAD "100001\r\n", 413),
  reject("chunk_size_missing", STEWARD_CASE_CHUNKED_HEAD "\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_hex_prefix", STEWARD_CASE_CHUNKED_HEAD "0x3\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_negative", STEWARD_CASE_CHUNKED_HEAD "-3\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_plus", STEWARD_CASE_CHUNKED_HEAD "+3\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_leading_space", STEWARD_CASE_CHUNKED_HEAD " 3\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_trailing_space", STEWARD_CASE_CHUNKED_HEAD "3 \r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_size_not_hex", STEWARD_CASE_CHUNKED_HEAD "g\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_missing_crlf_after_data",
         STEWARD_CASE_CHUNKED_HEAD "3\r\nabcX\r\n0\r\n\r\n", 400),
  reject("chunk_data_longer_than_size",
         STEWARD_CASE_CHUNKED_HEAD "3\r\nabcdef\r\n0\r\n\r\n", 400),
  reject("chunk_data_followed_by_lf", STEWARD_CASE_CHUNKED_HEAD "3\r\nabc\n0\r\n\r\n", 400),
  reject("chunk_data_followed_by_cr_only", STEWARD_CASE_CHUNKED_HEAD "3\r\nabc\rX0\r\n\r\n", 400),
  reject("chunk_lines_lf_only", STEWARD_CASE_CHUNKED_HEAD "3\nabc\n0\n\n", 400),
  reject("last_chunk_lf_only", STEWARD_CASE_CHUNKED_HEAD "0\n\r\n", 400),
  reject("chunk_extension_empty", STEWARD_CASE_CHUNKED_HEAD "3;\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_extension_empty_value", STEWARD_CASE_CHUNKED_HEAD "3;a=\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_extension_unterminated_quote",
         STEWARD_CASE_CHUNKED_HEAD "3;a=\"b\r\nabc\r\n0\r\n\r\n", 400),
  reject("chunk_extension_ctl", STEWARD_CASE_CHUNKED_HEAD "3;a\x01\r\nabc\r\n0\r\n\r\n", 400),
  reject("trailer_obs_fold", STEWARD_CASE_CHUNKED_HEAD "0\r\nX: a\r\n b\r\n\r\n", 400),
  reject("trailer_bare_lf", STEWARD_CASE_CHUNKED_HEAD "0\r\nX: a\n\r\n", 400),
  reject("trailer_without_colon", STEWARD_CASE_CHUNKED_HEAD "0\r\nX a\r\n\r\n", 400),
  reject("trailer_value_ctl", STEWARD_CASE_CHUNKED_HEAD "0\r\nX: a\x01\r\n\r\n", 400),
};

#undef STEWARD_CASE_GET_A
#undef STEWARD_CASE_POST_B
#undef STEWARD_CASE_CHUNKED_HEAD

} // namespace steward::net::parser_cases
