// In-process tests of the outbound client against a small asio server on loopback, plain and TLS
// (a certificate generated here with OpenSSL and trusted through the client's CA-file option).

#include "net/http_client.hpp"

#include "net/http_parser.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace steward::net {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

// --- Certificates -------------------------------------------------------------------------------

struct certificate {
  std::string cert_pem;
  std::string key_pem;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

/// A self-signed P-256 certificate for `subject_alt_names` (OpenSSL's "DNS:x,IP:y" syntax).
certificate make_certificate(const char* subject_alt_names) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  EXPECT_TRUE(key != nullptr && cert != nullptr);
  X509_set_version(cert, 2);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("steward test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, subject_alt_names},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    EXPECT_TRUE(extension != nullptr);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  EXPECT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  certificate result;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  result.cert_pem = bio_text(bio);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  result.key_pem = bio_text(bio);
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return result;
}

/// A temporary directory, removed with its files.
class temp_dir {
public:
  temp_dir() {
    std::string pattern =
      (std::filesystem::temp_directory_path() / "steward-client-XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

private:
  std::filesystem::path path_;
};

// --- The test server ----------------------------------------------------------------------------

/// What the server saw of one request.
struct seen_request {
  std::string method;
  std::string path;
  std::string idempotency_key;
};

/// Answers by path:
///   /ok         200 "hello" with Content-Length
///   /chunked    200 "hello, chunked" in three chunks
///   /close-mid  a head promising 100 bytes, 7 of them, then closes
///   /slow       never answers
///   /flaky      503 the first time, 200 after
///   /fail       503 always
///   /bye        200 "bye", then closes the (keep-alive) connection
class test_server {
public:
  /// Plain HTTP when `tls` is null.
  explicit test_server(const certificate* tls = nullptr)
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (tls != nullptr) {
      tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_context_->use_certificate_chain(asio::buffer(tls->cert_pem));
      tls_context_->use_private_key(asio::buffer(tls->key_pem), asio::ssl::context::pem);
    }
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~test_server() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string_view path) const {
    return std::string(tls_context_ ? "https" : "http") + "://127.0.0.1:" +
           std::to_string(port()) + std::string(path);
  }

  int accepted() const { return accepted_.load(); }
  std::vector<seen_request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  /// Waits (on the server's I/O, with a deadline) until it has seen `count` requests.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds deadline = 5s) {
    std::unique_lock lock(mutex_);
    return seen_.wait_for(lock, deadline, [&] { return requests_.size() >= count; });
  }

  /// Waits until clients have closed `count` connections while the server was reading them.
  bool wait_for_peer_closes(int count, std::chrono::milliseconds deadline = 5s) {
    std::unique_lock lock(mutex_);
    return seen_.wait_for(lock, deadline, [&] { return peer_closes_ >= count; });
  }

private:
  template <class Stream>
  struct session : std::enable_shared_from_this<session<Stream>> {
    template <class... Args>
    session(test_server& s, Args&&... args)
      : server(s), stream(std::forward<Args>(args)...), parser(parse_limits{}) {}

    void start() {
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        read();
      } else {
        stream.async_handshake(asio::ssl::stream_base::server,
                               [self = this->shared_from_this()](asio::error_code error) {
                                 if (!error)
                                   self->read();
                               });
      }
    }

    void read() {
      stream.async_read_some(asio::buffer(chunk),
                             [self = this->shared_from_this()](asio::error_code error,
                                                               std::size_t bytes) {
                               if (error)
                                 return self->server.record_close();
                               self->input.append(self->chunk.data(), bytes);
                               self->serve();
                             });
    }

    void serve() {
      const auto status = parser.parse(input);
      if (status == parse_status::need_more)
        return read();
      if (status == parse_status::error)
        return;
      const http_request& request = parser.request();
      const std::string path(request.path);
      server.record({std::string(request.method_text), path,
                     std::string(request.header("idempotency-key"))});
      input.erase(0, parser.consumed());
      parser.reset();
      bool close_after = false;
      std::string answer;
      if (path == "/ok") {
        answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
      } else if (path == "/chunked") {
        answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n2\r\n, \r\n7;ext=1\r\nchunked\r\n0\r\n\r\n";
      } else if (path == "/close-mid") {
        answer = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
        close_after = true;
      } else if (path == "/slow") {
        return read(); // hold the request; a read keeps the session alive until the peer closes
      } else if (path == "/flaky") {
        answer = server.flaky_calls_++ == 0
                   ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
                   : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      } else if (path == "/fail") {
        answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
      } else if (path == "/bye") {
        answer = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye";
        close_after = true;
      } else {
        answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      }
      auto self = this->shared_from_this();
      auto bytes = std::make_shared<std::string>(std::move(answer));
      asio::async_write(stream, asio::buffer(*bytes),
                        [self, bytes, close_after](asio::error_code error, std::size_t) {
                          if (error)
                            return;
                          if (close_after) {
                            asio::error_code ignored;
                            self->lowest().close(ignored);
                            return;
                          }
                          self->serve();
                        });
    }

    tcp::socket& lowest() {
      if constexpr (std::is_same_v<Stream, tcp::socket>)
        return stream;
      else
        return stream.next_layer();
    }

    test_server& server;
    Stream stream;
    http_parser parser;
    std::string input;
    std::array<char, 4096> chunk{};
  };

  void accept() {
    acceptor_.async_accept([this](asio::error_code error, tcp::socket socket) {
      if (error)
        return;
      ++accepted_;
      if (tls_context_)
        std::make_shared<session<asio::ssl::stream<tcp::socket>>>(*this, std::move(socket),
                                                                   *tls_context_)
          ->start();
      else
        std::make_shared<session<tcp::socket>>(*this, std::move(socket))->start();
      accept();
    });
  }

  void record(seen_request request) {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
    seen_.notify_all();
  }

  void record_close() {
    std::lock_guard lock(mutex_);
    ++peer_closes_;
    seen_.notify_all();
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::atomic<int> accepted_{0};
  int flaky_calls_ = 0; ///< server thread only
  std::mutex mutex_;
  std::condition_variable seen_;
  std::vector<seen_request> requests_;
  int peer_closes_ = 0;
  std::thread thread_;
};

// --- Helpers ------------------------------------------------------------------------------------

/// Sends one request and waits for its result. A second callback would throw from set_value and
/// fail the test.
client_result send(http_client& client, client_request request,
                   std::chrono::seconds deadline = 10s) {
  auto promise = std::make_shared<std::promise<client_result>>();
  auto future = promise->get_future();
  client.request(std::move(request), [promise](client_result result) {
    promise->set_value(std::move(result));
  });
  if (future.wait_for(deadline) != std::future_status::ready) {
    ADD_FAILURE() << "no result within the deadline";
    return client_error::stopped;
  }
  return future.get();
}

client_request get(std::string url) {
  client_request request;
  request.url = std::move(url);
  return request;
}

const client_response& response_of(const client_result& result) {
  static const client_response none;
  if (const auto* response = std::get_if<client_response>(&result))
    return *response;
  ADD_FAILURE() << "expected a response, got " << to_string(std::get<client_error>(result));
  return none;
}

client_error error_of(const client_result& result) {
  if (const auto* error = std::get_if<client_error>(&result))
    return *error;
  ADD_FAILURE() << "expected an error, got status " << std::get<client_response>(result).status;
  return client_error::stopped;
}

std::uint64_t errors(const http_client& client, client_error error) {
  return client.stats().errors[static_cast<std::size_t>(error)];
}

client_options fast_options() {
  client_options options;
  options.backoff_base_ms = 1;
  options.backoff_max_ms = 5;
  options.random = [] { return std::uint64_t{0}; };
  return options;
}

// --- URLs ---------------------------------------------------------------------------------------

TEST(HttpClientUrl, ParsesOriginAndTarget) {
  auto parsed = parse_client_url("HTTPS://Provider.Example:8443/v1/resources?x=1");
  ASSERT_TRUE(std::holds_alternative<client_url>(parsed));
  const auto& url = std::get<client_url>(parsed);
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.host, "provider.example");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.target, "/v1/resources?x=1");
  EXPECT_EQ(url.origin, "https://provider.example:8443");
  EXPECT_EQ(url.authority(), "provider.example:8443");

  auto plain = std::get<client_url>(parse_client_url("https://a.example?q"));
  EXPECT_EQ(plain.port, 443);
  EXPECT_EQ(plain.target, "/?q");
  EXPECT_EQ(plain.authority(), "a.example");
  auto v6 = std::get<client_url>(parse_client_url("http://[::1]:81/x"));
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.authority(), "[::1]:81");
  EXPECT_EQ(v6.origin, "http://[::1]:81");
}

TEST(HttpClientUrl, PlainHttpOnlyToLoopback) {
  for (const char* url : {"http://127.0.0.1/", "http://127.200.3.4:9/", "http://localhost:1/",
                          "http://LocalHost/", "http://[::1]/", "http://[::ffff:127.0.0.1]/"})
    EXPECT_TRUE(std::holds_alternative<client_url>(parse_client_url(url))) << url;
  for (const char* url : {"http://example.com/", "http://10.0.0.1/", "http://128.0.0.1/",
                          "http://[::2]/", "http://127.0.0.1.example.com/", "http://0.0.0.0/",
                          "http://localhost.example/"}) {
    auto parsed = parse_client_url(url);
    ASSERT_TRUE(std::holds_alternative<client_error>(parsed)) << url;
    EXPECT_EQ(std::get<client_error>(parsed), client_error::insecure_url) << url;
  }
}

TEST(HttpClientUrl, RejectsWhatItCannotSend) {
  for (const char* url : {"", "ftp://a.example/", "a.example/x", "https:///x",
                          "https://u:p@a.example/", "https://a.example/#frag",
                          "https://a.example:0/", "https://a.example:65536/",
                          "https://a.example:/", "https://a.example:8x/", "https://a .example/",
                          "https://a.example/\x01", "https://[::1/", "https://[nothex]/",
                          "https://a%2eexample/"}) {
    auto parsed = parse_client_url(url);
    ASSERT_TRUE(std::holds_alternative<client_error>(parsed)) << url;
    EXPECT_EQ(std::get<client_error>(parsed), client_error::invalid_request) << url;
  }
}

TEST(HttpClientOptions, ValidateNamesTheBadMember) {
  EXPECT_EQ(validate(client_options{}), "");
  client_options options;
  options.connections_per_origin_max = core::limits::client_connections_per_origin_max + 1;
  EXPECT_EQ(validate(options), "connections_per_origin_max");
  options = {};
  options.retries_max = core::limits::client_retries_max + 1;
  EXPECT_EQ(validate(options), "retries_max");
  options = {};
  options.breaker.probes_max = 0;
  EXPECT_EQ(validate(options), "breaker");
}

// --- Plain HTTP on loopback ---------------------------------------------------------------------

TEST(HttpClient, SequentialRequestsReuseOneConnection) {
  test_server server;
  core::metrics::registry registry;
  auto options = fast_options();
  options.metrics = &registry;
  http_client client(options);
  for (int i = 0; i < 5; ++i) {
    auto result = send(client, get(server.url("/ok")));
    EXPECT_EQ(response_of(result).status, 200);
    EXPECT_EQ(response_of(result).body, "hello");
    EXPECT_EQ(response_of(result).attempts, 1u);
  }
  EXPECT_EQ(server.accepted(), 1);
  auto stats = client.stats();
  EXPECT_EQ(stats.responses, 5u);
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_open, 1);
  EXPECT_EQ(stats.connections_idle, 1);
  EXPECT_EQ(stats.requests_in_flight, 0);
  const auto text = registry.render();
  EXPECT_NE(text.find("steward_client_requests_total{client=\"provider\",outcome=\"response\"} 5"),
            std::string::npos)
    << text;
  EXPECT_NE(text.find("steward_client_connections{client=\"provider\",state=\"idle\"} 1"),
            std::string::npos)
    << text;
}

TEST(HttpClient, SendsMethodHeadersKeyAndBody) {
  test_server server;
  http_client client(fast_options());
  client_request request = get(server.url("/ok?x=1"));
  request.method = http_method::post;
  request.body = "{}";
  request.idempotency_key = "key-7";
  request.headers = {{"Authorization", "Bearer t"}};
  EXPECT_EQ(response_of(send(client, request)).status, 200);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/ok");
  EXPECT_EQ(seen[0].idempotency_key, "key-7");
}

TEST(HttpClient, ReadsAChunkedBody) {
  test_server server;
  http_client client(fast_options());
  auto result = send(client, get(server.url("/chunked")));
  EXPECT_EQ(response_of(result).body, "hello, chunked");
  // The connection stays usable after a chunked body.
  EXPECT_EQ(response_of(send(client, get(server.url("/ok")))).body, "hello");
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClient, RetriesA503WithTheSameIdempotencyKey) {
  test_server server;
  http_client client(fast_options());
  client_request request = get(server.url("/flaky"));
  request.method = http_method::post;
  request.idempotency_key = "idem-1";
  auto result = send(client, request);
  EXPECT_EQ(response_of(result).status, 200);
  EXPECT_EQ(response_of(result).attempts, 2u);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].idempotency_key, "idem-1");
  EXPECT_EQ(seen[1].idempotency_key, "idem-1");
  EXPECT_EQ(client.stats().retries, 1u);
}

TEST(HttpClient, DoesNotRetryAPostWithoutAKey) {
  test_server server;
  http_client client(fast_options());
  client_request request = get(server.url("/flaky"));
  request.method = http_method::post;
  auto result = send(client, request);
  EXPECT_EQ(response_of(result).status, 503);
  EXPECT_EQ(response_of(result).body, "busy");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(HttpClient, RetriesAreBounded) {
  test_server server;
  auto options = fast_options();
  options.retries_max = 2;
  options.breaker.consecutive_failures_max = 0; // keep the breaker out of this test
  options.breaker.window_outcomes_min = 0;
  http_client client(options);
  auto result = send(client, get(server.url("/fail")));
  EXPECT_EQ(response_of(result).status, 503); // the last answer, once retries are spent
  EXPECT_EQ(response_of(result).attempts, 3u);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(client.stats().retries, 2u);
}

TEST(HttpClient, ConnectionClosedMidResponseIsLostAndRetriedOnlyWhenSafe) {
  test_server server;
  auto options = fast_options();
  options.retries_max = 1;
  http_client client(options);
  client_request post = get(server.url("/close-mid"));
  post.method = http_method::post;
  EXPECT_EQ(error_of(send(client, post)), client_error::connection_lost);
  EXPECT_EQ(server.requests().size(), 1u);
  // A GET is safe to repeat: the second attempt sees the same cut, then the error is returned.
  EXPECT_EQ(error_of(send(client, get(server.url("/close-mid")))), client_error::connection_lost);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(errors(client, client_error::connection_lost), 2u);
  EXPECT_EQ(client.stats().connections_open, 0);
}

TEST(HttpClient, TimeoutFiresAndTheConnectionIsClosed) {
  test_server server;
  auto options = fast_options();
  options.retries_max = 0;
  http_client client(options);
  client_request request = get(server.url("/slow"));
  request.timeout_ms = 200;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of(send(client, request)), client_error::timeout);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(errors(client, client_error::timeout), 1u);
  EXPECT_EQ(client.stats().connections_open, 0);
  EXPECT_EQ(client.stats().requests_in_flight, 0);
}

TEST(HttpClient, BreakerOpensAfterFailuresAndRejectsWithoutConnecting) {
  test_server server;
  auto options = fast_options();
  options.retries_max = 0;
  options.breaker.consecutive_failures_max = 2;
  options.breaker.window_outcomes_min = 0;
  options.breaker.cooldown_ms = 60'000;
  http_client client(options);
  client_request request = get(server.url("/fail"));
  request.provider = "flaky-cloud";
  EXPECT_EQ(response_of(send(client, request)).status, 503);
  EXPECT_EQ(response_of(send(client, request)).status, 503);
  EXPECT_EQ(error_of(send(client, request)), client_error::circuit_open);
  EXPECT_EQ(server.requests().size(), 2u); // the third never reached the server
  EXPECT_EQ(client.stats().breaker_opens, 1u);
  EXPECT_EQ(client.stats().breakers_open, 1);
  EXPECT_EQ(errors(client, client_error::circuit_open), 1u);
  // The breaker belongs to the provider: another provider on the same origin still gets through.
  request.provider = "healthy-cloud";
  request.url = server.url("/ok");
  EXPECT_EQ(response_of(send(client, request)).status, 200);
}

TEST(HttpClient, ConnectFailureIsRetriedForAnyMethod) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = closed.local_endpoint().port();
  } // nothing listens there any more: connecting is refused
  auto options = fast_options();
  options.retries_max = 1;
  http_client client(options);
  client_request request = get("http://127.0.0.1:" + std::to_string(port) + "/");
  request.method = http_method::post; // no key: only safe because nothing was sent
  EXPECT_EQ(error_of(send(client, request)), client_error::connect_failed);
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(client.stats().connections_open, 0);
}

TEST(HttpClient, FullPoolQueuesThenRefuses) {
  test_server server;
  auto options = fast_options();
  options.retries_max = 0;
  options.connections_per_origin_max = 1;
  options.queued_requests_per_origin_max = 1;
  http_client client(options);
  std::promise<client_result> slow_result;
  std::promise<client_result> queued_result;
  client_request slow = get(server.url("/slow"));
  slow.timeout_ms = 300;
  client.request(slow, [&](client_result r) { slow_result.set_value(std::move(r)); });
  ASSERT_TRUE(server.wait_for_requests(1)); // the only connection is now busy
  client.request(get(server.url("/ok")),
                 [&](client_result r) { queued_result.set_value(std::move(r)); });
  // The queue holds one: a third request is refused at once.
  EXPECT_EQ(error_of(send(client, get(server.url("/ok")))), client_error::pool_exhausted);
  auto slow_future = slow_result.get_future();
  auto queued_future = queued_result.get_future();
  ASSERT_EQ(slow_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(error_of(slow_future.get()), client_error::timeout);
  // The timed-out connection was closed; its slot went to the queued request.
  ASSERT_EQ(queued_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(response_of(queued_future.get()).body, "hello");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClient, RefusesInvalidRequestsWithoutSending) {
  test_server server;
  http_client client(fast_options());
  client_request host = get(server.url("/ok"));
  host.headers = {{"Host", "elsewhere"}};
  EXPECT_EQ(error_of(send(client, host)), client_error::invalid_request);
  client_request split = get(server.url("/ok"));
  split.headers = {{"X-Note", "a\r\nInjected: yes"}};
  EXPECT_EQ(error_of(send(client, split)), client_error::invalid_request);
  client_request method = get(server.url("/ok"));
  method.method = http_method::other;
  EXPECT_EQ(error_of(send(client, method)), client_error::invalid_request);
  EXPECT_EQ(error_of(send(client, get("http://192.0.2.1/"))), client_error::insecure_url);
  EXPECT_EQ(server.accepted(), 0);
  EXPECT_EQ(errors(client, client_error::invalid_request), 3u);
  EXPECT_EQ(errors(client, client_error::insecure_url), 1u);
}

TEST(HttpClient, ResponseOverTheBodyLimitIsTooLarge) {
  test_server server;
  auto options = fast_options();
  options.response.body_bytes_max = 4;
  http_client client(options);
  EXPECT_EQ(error_of(send(client, get(server.url("/ok")))), client_error::too_large);
  EXPECT_EQ(client.stats().connections_open, 0); // not reused after a framing failure
}

TEST(HttpClient, AConnectionTheServerClosedIsNotReused) {
  test_server server;
  http_client client(fast_options());
  EXPECT_EQ(response_of(send(client, get(server.url("/bye")))).body, "bye");
  // Whether the client noticed the close while idle or finds it on use, the next request must
  // succeed on a fresh connection rather than fail on the dead one.
  EXPECT_EQ(response_of(send(client, get(server.url("/ok")))).body, "hello");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClient, IdleConnectionsCloseAfterTheIdleTimeout) {
  test_server server;
  auto options = fast_options();
  options.idle_timeout_ms = 50;
  http_client client(options);
  EXPECT_EQ(response_of(send(client, get(server.url("/ok")))).body, "hello");
  // The server sees the client close the idle connection: real I/O, waited for with a deadline.
  ASSERT_TRUE(server.wait_for_peer_closes(1));
  EXPECT_EQ(client.stats().connections_open, 0);
  EXPECT_EQ(client.stats().connections_idle, 0);
  EXPECT_EQ(response_of(send(client, get(server.url("/ok")))).body, "hello");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClient, StopCompletesOutstandingRequestsExactlyOnce) {
  test_server server;
  auto options = fast_options();
  options.connections_per_origin_max = 2; // two requests on the wire, the third queued
  auto client = std::make_unique<http_client>(options);
  constexpr int request_count = 3;
  std::array<std::atomic<int>, request_count> calls{};
  std::array<std::atomic<int>, request_count> stopped{};
  for (int i = 0; i < request_count; ++i) {
    client_request request = get(server.url("/slow"));
    request.timeout_ms = 60'000;
    client->request(request, [&, i](client_result result) {
      ++calls[i];
      if (std::holds_alternative<client_error>(result) &&
          std::get<client_error>(result) == client_error::stopped)
        ++stopped[i];
    });
  }
  ASSERT_TRUE(server.wait_for_requests(2));
  client->stop();
  for (int i = 0; i < request_count; ++i) {
    EXPECT_EQ(calls[i].load(), 1) << i;
    EXPECT_EQ(stopped[i].load(), 1) << i;
  }
  auto stats = client->stats();
  EXPECT_EQ(stats.requests_in_flight, 0);
  EXPECT_EQ(stats.connections_open, 0);
  EXPECT_EQ(stats.errors[static_cast<std::size_t>(client_error::stopped)], 3u);
  // After stop a request is answered at once, on this thread.
  const auto caller = std::this_thread::get_id();
  std::thread::id answered_on;
  int late_calls = 0;
  client->request(get(server.url("/ok")), [&](client_result result) {
    ++late_calls;
    answered_on = std::this_thread::get_id();
    EXPECT_EQ(error_of(result), client_error::stopped);
  });
  EXPECT_EQ(late_calls, 1);
  EXPECT_EQ(answered_on, caller);
  client->stop(); // idempotent
  client.reset();
  for (int i = 0; i < request_count; ++i)
    EXPECT_EQ(calls[i].load(), 1) << i;
}

// --- TLS ----------------------------------------------------------------------------------------

class HttpClientTls : public ::testing::Test {
protected:
  temp_dir dir_;
  certificate trusted_ = make_certificate("DNS:localhost,IP:127.0.0.1");
  std::string ca_file_ = dir_.write("ca.pem", trusted_.cert_pem);
};

TEST_F(HttpClientTls, VerifiedPeerByAddressAndByName) {
  test_server server(&trusted_);
  auto options = fast_options();
  options.ca_file = ca_file_;
  http_client client(options);
  EXPECT_EQ(response_of(send(client, get(server.url("/ok")))).body, "hello");
  EXPECT_EQ(response_of(send(client, get(server.url("/chunked")))).body, "hello, chunked");
  // By name: SNI and the DNS subject alternative name. A second origin, so a second connection.
  auto by_name = get("https://localhost:" + std::to_string(server.port()) + "/ok");
  EXPECT_EQ(response_of(send(client, by_name)).body, "hello");
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(client.stats().connections_opened, 2u);
}

TEST_F(HttpClientTls, UntrustedCertificateFails) {
  auto stranger = make_certificate("DNS:localhost,IP:127.0.0.1");
  test_server server(&stranger);
  auto options = fast_options();
  options.ca_file = ca_file_; // trusts `trusted_`, not `stranger`
  http_client client(options);
  EXPECT_EQ(error_of(send(client, get(server.url("/ok")))), client_error::tls_failed);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(client.stats().retries, 0u); // a verification failure is not retried
}

TEST_F(HttpClientTls, TrustedCertificateForAnotherHostFails) {
  auto other = make_certificate("DNS:other.example");
  test_server server(&other);
  auto options = fast_options();
  options.ca_file = dir_.write("other.pem", other.cert_pem);
  http_client client(options);
  EXPECT_EQ(error_of(send(client, get(server.url("/ok")))), client_error::tls_failed);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTls, UnreadableCaFileFailsTls) {
  test_server server(&trusted_);
  auto options = fast_options();
  options.ca_file = dir_.write("empty.pem", "");
  http_client client(options);
  EXPECT_EQ(error_of(send(client, get(server.url("/ok")))), client_error::tls_failed);
  EXPECT_EQ(server.accepted(), 0);
}

} // namespace
} // namespace steward::net
