#pragma once

// Starting, signalling and reaping a child process for the system tests, and a GoogleTest fixture
// that runs stewardd on loopback with port-0 listeners in a fresh temporary directory.
//
// Environment: `STEWARDD` is the path of the stewardd binary (tests skip when it is unset);
// `STEWARD_IO_BACKEND` picks `--io-backend` (default `io_uring`).

#include "tests/support/raw_client.hpp"

#include <gtest/gtest.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace steward::test_support {

/// A directory made with mkdtemp(3) under $TMPDIR (or /tmp), removed with its contents on
/// destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
};

/// The addresses of stewardd's first stdout line, `listening public=HOST:PORT admin=HOST:PORT`.
struct listening_addresses {
  endpoint public_endpoint;
  endpoint admin_endpoint;
};

/// Parses the listening line; nullopt if it does not have that exact shape or a port is 0.
std::optional<listening_addresses> parse_listening_line(std::string_view line);

/// A child process started with posix_spawn. Its stdout is a pipe read by a drain thread: the first
/// line is kept for `read_first_line`, the rest is copied to `log_dir/stdout.log`. Its stderr goes
/// straight to `log_dir/stderr.log`. Neither can fill up and block the child.
///
/// The destructor kills (SIGKILL) and reaps a child that is still running; `log_dir` must outlive
/// this object.
class child_process {
public:
  /// Starts `argv[0]` with `argv`. Returns nullptr and sets `error` when it could not be spawned.
  static std::unique_ptr<child_process> spawn(const std::vector<std::string>& argv,
                                              const std::filesystem::path& log_dir,
                                              std::string& error);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The first line of stdout without its newline; nullopt if stdout closed first or the deadline
  /// passed.
  std::optional<std::string> read_first_line(deadline until);

  /// Sends `signal_number` to a child that has not been reaped yet.
  bool signal(int signal_number);

  /// Waits for the child to exit and reaps it; returns its wait(2) status (use WIFEXITED and
  /// friends), or nullopt if it is still running at the deadline.
  std::optional<int> wait_exit(deadline until);

  /// Everything the child wrote to stderr so far.
  std::string stderr_text() const;

  pid_t pid() const noexcept { return pid_; }

private:
  child_process() = default;
  void drain_stdout();

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_read_fd_ = -1;
  std::optional<int> exit_status_;
  std::filesystem::path stdout_path_;
  std::filesystem::path stderr_path_;
  std::thread drainer_;

  std::mutex mutex_;
  std::condition_variable first_line_ready_;
  std::string first_line_;
  bool first_line_done_ = false;     ///< a newline or EOF was seen
  bool first_line_complete_ = false; ///< a newline was seen
};

/// The stewardd binary from `STEWARDD`, or nullopt when unset or empty.
std::optional<std::string> stewardd_path();
/// The transport from `STEWARD_IO_BACKEND`, `io_uring` when unset.
std::string io_backend();

/// A running stewardd whose listening line has been read.
class stewardd_process {
public:
  stewardd_process(std::unique_ptr<child_process> child, listening_addresses addresses)
      : child_(std::move(child)), addresses_(std::move(addresses)) {}

  std::uint16_t public_port() const noexcept { return addresses_.public_endpoint.port; }
  std::uint16_t admin_port() const noexcept { return addresses_.admin_endpoint.port; }
  const listening_addresses& addresses() const noexcept { return addresses_; }
  /// The directory it runs in: `data/` is its data dir.
  const std::filesystem::path& run_dir() const noexcept { return run_dir_; }
  void set_run_dir(std::filesystem::path dir) { run_dir_ = std::move(dir); }
  child_process& process() noexcept { return *child_; }

private:
  std::unique_ptr<child_process> child_;
  listening_addresses addresses_;
  std::filesystem::path run_dir_;
};

/// Fixture for tests that run stewardd: skips the test when `STEWARDD` is unset, gives it a
/// temporary directory, and stops every server it started when the test ends.
class stewardd_test : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// A new, empty directory for one stewardd run (its data dir and its stdout/stderr logs).
  std::filesystem::path new_run_dir();

  /// The flags every test passes: demo mode, `run_dir/data` as data dir, port-0 loopback
  /// listeners, the backend from the environment and one io thread.
  std::vector<std::string> base_args(const std::filesystem::path& run_dir) const;

  /// Starts stewardd with `base_args()` then `extra_args` in a new run dir. Returns nullptr after
  /// recording a test failure (with stewardd's stderr) when it did not print a valid listening line
  /// within 10 s. The server is killed at the end of the test if it is still running.
  stewardd_process* start_stewardd(const std::vector<std::string>& extra_args = {});
  /// As above, in `run_dir` (a restart over the same data dir).
  stewardd_process* start_stewardd_in(const std::filesystem::path& run_dir,
                                      const std::vector<std::string>& extra_args = {});

  /// Spawns stewardd with exactly `args` after the binary name, logging into `run_dir`, without
  /// waiting for anything. nullptr after recording a failure if it could not be spawned.
  std::unique_ptr<child_process> spawn_stewardd(const std::filesystem::path& run_dir,
                                                const std::vector<std::string>& args);

  const std::filesystem::path& work_dir() const { return dir_->path(); }

private:
  std::string binary_;
  std::unique_ptr<temp_dir> dir_;
  std::vector<std::unique_ptr<stewardd_process>> servers_;
  int next_id_ = 0;
};

} // namespace steward::test_support
