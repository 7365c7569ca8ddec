// The transport choice at run time: under a seccomp policy that refuses io_uring (as a container's
// may), `auto` falls back to epoll and serves, while an explicit `io_uring` refuses to start.

#include "tests/support/process.hpp"
#include "tests/support/raw_client.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>

namespace steward::test_support {
namespace {

using namespace std::chrono_literals;

class io_backend_choice : public stewardd_test {
protected:
  std::unique_ptr<child_process> spawn_confined(const std::string& backend,
                                                std::filesystem::path& run_dir) {
    const char* wrapper = std::getenv("STEWARD_WITHOUT_IO_URING");
    if (wrapper == nullptr || *wrapper == '\0')
      return nullptr;
    run_dir = new_run_dir();
    std::vector<std::string> argv = {wrapper, *stewardd_path(), "--demo",
                                     "--data-dir=" + (run_dir / "data").string(),
                                     "--listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0",
                                     "--io-threads=1", "--io-backend=" + backend};
    std::string error;
    auto child = child_process::spawn(argv, run_dir, error);
    EXPECT_TRUE(child) << error;
    return child;
  }

  /// The value of the metrics series `series` on the admin port, or -1.
  static long metric(std::uint16_t admin_port, std::string_view series) {
    auto response = http_get(admin_port, "/metrics", deadline_in(2s));
    if (!response)
      return -1;
    auto at = response->body.find(std::string(series) + " ");
    if (at == std::string::npos)
      return -1;
    return std::strtol(response->body.c_str() + at + series.size() + 1, nullptr, 10);
  }
};

TEST_F(io_backend_choice, auto_falls_back_to_epoll_when_io_uring_is_refused) {
  std::filesystem::path run_dir;
  auto child = spawn_confined("auto", run_dir);
  if (!child)
    GTEST_SKIP() << "STEWARD_WITHOUT_IO_URING is not set";
  auto line = child->read_first_line(deadline_in(10s));
  ASSERT_TRUE(line) << child->stderr_text();
  auto addresses = parse_listening_line(*line);
  ASSERT_TRUE(addresses);
  EXPECT_EQ(metric(addresses->admin_endpoint.port,
                   R"(steward_io_backend{listener="public",backend="epoll"})"),
            1);
  auto response = http_get(addresses->public_endpoint.port, "/healthz", deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  // The operator is told why (the one place a message is the contract).
  EXPECT_NE(child->stderr_text().find("io_uring is not usable here"), std::string::npos);
  child->signal(SIGTERM);
  auto status = child->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(io_backend_choice, explicit_io_uring_refuses_to_start_when_refused) {
  std::filesystem::path run_dir;
  auto child = spawn_confined("io_uring", run_dir);
  if (!child)
    GTEST_SKIP() << "STEWARD_WITHOUT_IO_URING is not set";
  auto status = child->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(child->stderr_text().find("--io-backend"), std::string::npos);
}

TEST_F(io_backend_choice, the_transport_in_use_is_reported_in_metrics) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(metric(server->admin_port(),
                   "steward_io_backend{listener=\"public\",backend=\"" + io_backend() + "\"}"),
            1);
}

} // namespace
} // namespace steward::test_support
