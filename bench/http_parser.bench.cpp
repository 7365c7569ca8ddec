// Micro-benchmarks of the HTTP hot path: parsing requests the way a connection does (parse, reset,
// next) and serialising the common response. Items are requests (or responses); bytes are their
// wire size, so the figures read as requests/s and wire MB/s per core.

#include "net/http_parser.hpp"
#include "net/http_serializer.hpp"

#include <benchmark/benchmark.h>

#include <charconv>
#include <string>

namespace {

using namespace steward::net;

const std::string healthz_request = "GET /healthz HTTP/1.1\r\n"
                                    "Host: steward.example:8080\r\n"
                                    "User-Agent: steward-bench/0.1\r\n"
                                    "Accept: application/json\r\n"
                                    "Accept-Encoding: gzip, br\r\n"
                                    "Connection: keep-alive\r\n"
                                    "X-Request-Id: 5f0c1f7d9a2b4e3c\r\n"
                                    "\r\n";

std::string json_body_of_300_bytes() {
  std::string body = R"({"payment_token":"ptk_3f9a8c7e6d5b4a39","amount":1299,"currency":"usd",)"
                     R"("description":"metered usage for March","resource":"res_0a1b2c3d4e5f",)"
                     R"("usage":{"quantity":42,"unit":"request"},"metadata":{"region":"eu-west",)"
                     R"("note":")";
  body.append(300 - body.size() - 3, 'x');
  body += R"("}})";
  return body;
}

std::string post_request(const std::string& body) {
  return "POST /v1/provider/charges HTTP/1.1\r\n"
         "Host: steward.example:8080\r\n"
         "Content-Type: application/json\r\n"
         "Idempotency-Key: 8d1f2c3b-4a5e-6f70-8192-a3b4c5d6e7f8\r\n"
         "Steward-Provider: refprovider\r\n"
         "Steward-Signature: t=1700000000,v1=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chunked_request(const std::string& body) {
  // The JSON body in three chunks, one with an extension, as a streaming client might send it.
  std::string request = "POST /v1/resources HTTP/1.1\r\n"
                        "Host: steward.example:8080\r\n"
                        "Content-Type: application/json\r\n"
                        "Authorization: Bearer sst_0123456789abcdef0123456789abcdef\r\n"
                        "Idempotency-Key: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
  const std::size_t third = body.size() / 3;
  auto chunk = [&](std::string_view data, std::string_view extension) {
    char size[16];
    auto end = std::to_chars(size, size + sizeof size, data.size(), 16).ptr;
    request.append(size, end);
    request += extension;
    request += "\r\n";
    request += data;
    request += "\r\n";
  };
  chunk(std::string_view(body).substr(0, third), "");
  chunk(std::string_view(body).substr(third, third), ";part=2");
  chunk(std::string_view(body).substr(2 * third), "");
  return request + "0\r\n\r\n";
}

/// Parses `input` as a connection would: request after request until it is used up.
void parse_all(benchmark::State& state, const std::string& input, std::size_t requests) {
  http_parser parser(parse_limits{});
  for (auto _ : state) {
    std::string_view rest = input;
    for (std::size_t i = 0; i < requests; ++i) {
      if (parser.parse(rest) != parse_status::complete) {
        state.SkipWithError("request did not parse");
        return;
      }
      benchmark::DoNotOptimize(parser.request().body.data());
      rest.remove_prefix(parser.consumed());
      parser.reset();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}

void bm_parse_get_healthz(benchmark::State& state) {
  parse_all(state, healthz_request, 1);
}
BENCHMARK(bm_parse_get_healthz);

void bm_parse_post_json_300(benchmark::State& state) {
  parse_all(state, post_request(json_body_of_300_bytes()), 1);
}
BENCHMARK(bm_parse_post_json_300);

void bm_parse_post_chunked(benchmark::State& state) {
  parse_all(state, chunked_request(json_body_of_300_bytes()), 1);
}
BENCHMARK(bm_parse_post_chunked);

void bm_parse_pipelined_x16(benchmark::State& state) {
  std::string input;
  for (int i = 0; i < 16; ++i)
    input += healthz_request;
  parse_all(state, input, 16);
}
BENCHMARK(bm_parse_pipelined_x16);

void bm_serialize_json_200(benchmark::State& state) {
  http_response response;
  response.status = 200;
  response.body = R"({"id":"chg_3k2j1h0g9f8e","object":"charge","status":"succeeded",)"
                  R"("amount":1299,"currency":"usd","created":1700000000})";
  response.headers = {{"Idempotent-Replayed", "false"}};
  char date[http_date_size];
  format_http_date(1700000000, date);
  const std::string_view http_date(date, sizeof date);
  std::string out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    out.clear(); // keeps its capacity, as a connection's output buffer does
    append_response(out, response, false, false, http_date);
    benchmark::DoNotOptimize(out.data());
    bytes += out.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(bm_serialize_json_200);

void bm_format_http_date(benchmark::State& state) {
  char date[http_date_size];
  std::int64_t now = 1700000000;
  for (auto _ : state) {
    format_http_date(now++, date);
    benchmark::DoNotOptimize(date);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_format_http_date);

} // namespace
