#include "tests/support/process.hpp"

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

extern char** environ;

namespace steward::test_support {

namespace {

int remaining_ms(deadline until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 60'000));
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  const auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (ec != std::errc{} || ptr != end || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string describe_status(int status) {
  std::ostringstream out;
  if (WIFEXITED(status)) {
    out << "exited with status " << WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out << "killed by signal " << WTERMSIG(status);
  } else {
    out << "wait status " << status;
  }
  return out.str();
}

} // namespace

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/steward-system-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::optional<listening_addresses> parse_listening_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  constexpr std::string_view prefix = "listening ";
  if (!line.starts_with(prefix)) {
    return std::nullopt;
  }
  line.remove_prefix(prefix.size());
  std::optional<endpoint> public_endpoint;
  std::optional<endpoint> admin_endpoint;
  while (!line.empty()) {
    const auto space = line.find(' ');
    const std::string_view field = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (field.starts_with("public=")) {
      public_endpoint = parse_endpoint(field.substr(7));
    } else if (field.starts_with("admin=")) {
      admin_endpoint = parse_endpoint(field.substr(6));
    } else if (!field.empty()) {
      return std::nullopt;
    }
  }
  if (!public_endpoint || !admin_endpoint) {
    return std::nullopt;
  }
  return listening_addresses{*public_endpoint, *admin_endpoint};
}

std::unique_ptr<child_process> child_process::spawn(const std::vector<std::string>& argv,
                                                    const std::filesystem::path& log_dir,
                                                    std::string& error) {
  if (argv.empty()) {
    error = "empty argv";
    return nullptr;
  }
  std::unique_ptr<child_process> child(new child_process());
  child->stdout_path_ = log_dir / "stdout.log";
  child->stderr_path_ = log_dir / "stderr.log";

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::string("pipe2: ") + std::strerror(errno);
    return nullptr;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, child->stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

  // The child starts with default dispositions and nothing blocked, whatever the test runner did.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attributes, &signals);
  sigfillset(&signals);
  sigdelset(&signals, SIGKILL);
  sigdelset(&signals, SIGSTOP);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> raw_argv;
  raw_argv.reserve(argv.size() + 1);
  for (const auto& argument : argv) {
    raw_argv.push_back(const_cast<char*>(argument.c_str()));
  }
  raw_argv.push_back(nullptr);

  const int spawned =
      ::posix_spawn(&child->pid_, argv[0].c_str(), &actions, &attributes, raw_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    child->pid_ = -1;
    error = "posix_spawn " + argv[0] + ": " + std::strerror(spawned);
    return nullptr;
  }
  child->stdout_read_fd_ = pipe_fds[0];
  // A pidfd lets wait_exit poll for the exit with a deadline instead of sleeping between waitpids.
  child->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, child->pid_, 0));
  child->drainer_ = std::thread([raw = child.get()] { raw->drain_stdout(); });
  return child;
}

child_process::~child_process() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // The child is gone, so its end of the pipe is closed and the drainer sees EOF.
  if (drainer_.joinable()) {
    drainer_.join();
  }
  if (stdout_read_fd_ >= 0) {
    ::close(stdout_read_fd_);
  }
  if (pidfd_ >= 0) {
    ::close(pidfd_);
  }
}

void child_process::drain_stdout() {
  std::ofstream rest(stdout_path_, std::ios::binary | std::ios::trunc);
  char chunk[4096];
  while (true) {
    const ssize_t got = ::read(stdout_read_fd_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;
    }
    std::string_view bytes(chunk, static_cast<std::size_t>(got));
    {
      std::lock_guard lock(mutex_);
      if (!first_line_done_) {
        const auto newline = bytes.find('\n');
        first_line_.append(bytes.substr(0, newline));
        if (newline != std::string_view::npos) {
          first_line_done_ = true;
          first_line_complete_ = true;
          bytes.remove_prefix(newline + 1);
          first_line_ready_.notify_all();
        } else {
          bytes = {};
        }
      }
    }
    rest.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    rest.flush();
  }
  std::lock_guard lock(mutex_);
  first_line_done_ = true;
  first_line_ready_.notify_all();
}

std::optional<std::string> child_process::read_first_line(deadline until) {
  std::unique_lock lock(mutex_);
  first_line_ready_.wait_until(lock, until, [&] { return first_line_done_; });
  if (!first_line_complete_) {
    return std::nullopt;
  }
  return first_line_;
}

bool child_process::signal(int signal_number) {
  if (pid_ <= 0 || exit_status_) {
    return false;
  }
  return ::kill(pid_, signal_number) == 0;
}

std::optional<int> child_process::wait_exit(deadline until) {
  if (exit_status_) {
    return exit_status_;
  }
  while (true) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      exit_status_ = status;
      return exit_status_;
    }
    if (reaped < 0 && errno != EINTR) {
      return std::nullopt;
    }
    if (clock::now() >= until) {
      return std::nullopt;
    }
    if (pidfd_ >= 0) {
      pollfd waiter{pidfd_, POLLIN, 0};
      ::poll(&waiter, 1, remaining_ms(until));
    } else {
      // Kernels without pidfd_open: no event to wait for, so check again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

std::string child_process::stderr_text() const {
  std::ifstream in(stderr_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::string> stewardd_path() {
  const char* path = std::getenv("STEWARDD");
  if (path == nullptr || *path == '\0') {
    return std::nullopt;
  }
  return std::string(path);
}

std::string io_backend() {
  const char* backend = std::getenv("STEWARD_IO_BACKEND");
  return backend != nullptr && *backend != '\0' ? std::string(backend) : std::string("io_uring");
}

void stewardd_test::SetUp() {
  const auto binary = stewardd_path();
  if (!binary) {
    GTEST_SKIP() << "STEWARDD is not set: point it at the stewardd binary to run system tests";
  }
  binary_ = *binary;
  dir_ = std::make_unique<temp_dir>();
}

void stewardd_test::TearDown() {
  if (HasFailure()) {
    // The server's own account of what happened is the quickest way to the cause.
    for (auto& server : servers_) {
      std::string text = server->process().stderr_text();
      if (text.size() > 8192) {
        text = "...\n" + text.substr(text.size() - 8192);
      }
      std::cerr << "--- stewardd pid " << server->process().pid() << " stderr ---\n"
                << text << "\n--- end ---\n";
    }
  }
  servers_.clear();
  dir_.reset();
}

std::filesystem::path stewardd_test::new_run_dir() {
  auto run_dir = dir_->path() / ("run-" + std::to_string(next_id_++));
  std::filesystem::create_directories(run_dir);
  return run_dir;
}

std::vector<std::string> stewardd_test::base_args(const std::filesystem::path& run_dir) const {
  return {
      "--demo",
      "--data-dir=" + (run_dir / "data").string(),
      "--listen=127.0.0.1:0",
      "--admin-listen=127.0.0.1:0",
      "--io-backend=" + io_backend(),
      "--io-threads=1",
  };
}

std::unique_ptr<child_process> stewardd_test::spawn_stewardd(const std::filesystem::path& run_dir,
                                                             const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(args.size() + 1);
  argv.push_back(binary_);
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  auto child = child_process::spawn(argv, run_dir, error);
  if (!child) {
    ADD_FAILURE() << "could not start stewardd: " << error;
  }
  return child;
}

stewardd_process* stewardd_test::start_stewardd(const std::vector<std::string>& extra_args) {
  return start_stewardd_in(new_run_dir(), extra_args);
}

stewardd_process* stewardd_test::start_stewardd_in(const std::filesystem::path& run_dir,
                                                   const std::vector<std::string>& extra_args) {
  auto args = base_args(run_dir);
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto child = spawn_stewardd(run_dir, args);
  if (!child) {
    return nullptr;
  }
  const auto line = child->read_first_line(deadline_in(std::chrono::seconds(10)));
  const auto addresses = line ? parse_listening_line(*line) : std::nullopt;
  if (!addresses) {
    const auto status = child->wait_exit(deadline_in(std::chrono::milliseconds(200)));
    ADD_FAILURE() << "stewardd did not print a listening line (got "
                  << (line ? "'" + *line + "'" : std::string("nothing")) << "); "
                  << (status ? describe_status(*status) : std::string("still running"))
                  << "; stderr:\n"
                  << child->stderr_text();
    return nullptr;
  }
  servers_.push_back(std::make_unique<stewardd_process>(std::move(child), *addresses));
  servers_.back()->set_run_dir(run_dir);
  return servers_.back().get();
}

} // namespace steward::test_support
