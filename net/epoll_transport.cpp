#include "net/epoll_transport.hpp"

#include "core/limits.hpp"

#include <asio.hpp>

#include <sys/socket.h>

#include <array>
#include <vector>

namespace steward::net {

namespace {

constexpr std::uint32_t rejecting_max = 1024;
/// Reads per readiness event before the loop serves other connections (fairness).
constexpr int reads_per_wakeup_max = 4;

} // namespace

struct epoll_loop::impl {
  struct io_state {
    std::unique_ptr<asio::ip::tcp::socket> socket;
    bool read_waiting = false;
    bool write_waiting = false;
    bool rejected = false;
  };

  impl(epoll_loop& owner, int listen, connection_budget& shared, std::uint32_t drain_ms)
    : loop(owner), listen_fd(listen), budget(shared), drain_timeout_ms(drain_ms) {}

  epoll_loop& loop;
  // Only this thread touches the reactor; posts from actor threads still lock the scheduler.
  asio::io_context context{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  asio::ip::tcp::acceptor acceptor{context};
  asio::steady_timer timer{context};
  int listen_fd;
  connection_budget& budget;
  std::uint32_t drain_timeout_ms;
  std::vector<io_state> io;
  std::vector<std::uint32_t> touched;
  std::array<char, core::limits::recv_buffer_bytes> read_buffer{};
  bool draining = false;
  bool forced = false;
  std::int64_t drain_deadline_ms = 0;

  std::optional<std::string> setup() {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      return "getsockname on the listener failed";
    auto protocol = address.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
    asio::error_code error;
    acceptor.assign(protocol, listen_fd, error);
    if (error)
      return "asio could not adopt the listener: " + error.message();
    listen_fd = -1;
    return std::nullopt;
  }

  connection* live(std::uint64_t id) {
    auto* conn = loop.at(index_of(id));
    return conn != nullptr && conn->id() == id ? conn : nullptr;
  }

  void arm_accept() {
    acceptor.async_accept([this](const asio::error_code& error, asio::ip::tcp::socket socket) {
      loop.update_clock();
      if (!error)
        on_accept(std::move(socket));
      if (!draining && acceptor.is_open())
        arm_accept();
      flush();
    });
  }

  void on_accept(asio::ip::tcp::socket socket) {
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    socket.non_blocking(true, ignored);
    if (draining)
      return; // the socket closes as it goes out of scope
    bool over = budget.open.fetch_add(1, std::memory_order_relaxed) >= budget.max;
    if (over) {
      budget.open.fetch_sub(1, std::memory_order_relaxed);
      loop.stats_.connection_rejected();
      if (budget.rejecting.fetch_add(1, std::memory_order_relaxed) >= rejecting_max) {
        budget.rejecting.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
    std::uint32_t index = loop.add_connection(!over);
    if (io.size() <= index)
      io.resize(index + 1);
    io[index] = io_state{};
    io[index].socket = std::make_unique<asio::ip::tcp::socket>(std::move(socket));
    io[index].rejected = over;
    if (over)
      loop.at(index)->reject_overloaded();
    loop.touch(index);
  }

  void on_readable(std::uint64_t id) {
    auto* conn = live(id);
    if (conn == nullptr)
      return;
    auto index = index_of(id);
    auto& state = io[index];
    state.read_waiting = false;
    for (int i = 0; i < reads_per_wakeup_max && !conn->should_close(); ++i) {
      asio::error_code error;
      std::size_t count = state.socket->read_some(asio::buffer(read_buffer), error);
      if (error == asio::error::would_block || error == asio::error::try_again)
        break;
      if (error == asio::error::eof) {
        conn->on_peer_closed();
        break;
      }
      if (error) {
        conn->abort();
        break;
      }
      conn->on_received(read_buffer.data(), count);
      if (count < read_buffer.size() || conn->read_paused())
        break;
    }
    loop.touch(index);
  }

  void close(std::uint32_t index) {
    auto& state = io[index];
    asio::error_code ignored;
    state.socket->shutdown(asio::socket_base::shutdown_both, ignored);
    state.socket->close(ignored); // pending waits complete with operation_aborted and find no connection
    if (state.rejected)
      budget.rejecting.fetch_sub(1, std::memory_order_relaxed);
    else
      budget.open.fetch_sub(1, std::memory_order_relaxed);
    state = io_state{};
    loop.remove_connection(index);
  }

  void service(std::uint32_t index) {
    auto* conn = loop.at(index);
    if (conn == nullptr)
      return;
    auto& state = io[index];
    std::uint64_t id = conn->id();
    // Write optimistically: most responses fit in the socket buffer and need no readiness wait.
    while (!state.write_waiting && !conn->should_close()) {
      auto bytes = conn->next_send();
      if (bytes.empty())
        break;
      asio::error_code error;
      std::size_t count = state.socket->write_some(asio::buffer(bytes.data(), bytes.size()), error);
      if (error == asio::error::would_block || error == asio::error::try_again) {
        conn->on_sent(0);
        state.write_waiting = true;
        state.socket->async_wait(asio::socket_base::wait_write,
                                 [this, id](const asio::error_code&) {
                                   loop.update_clock();
                                   if (live(id) == nullptr)
                                     return;
                                   io[index_of(id)].write_waiting = false;
                                   loop.touch(index_of(id));
                                   flush();
                                 });
        break;
      }
      if (error) {
        conn->abort();
        break;
      }
      conn->on_sent(count);
    }
    if (conn->should_shutdown_write()) {
      asio::error_code ignored;
      state.socket->shutdown(asio::socket_base::shutdown_send, ignored);
      conn->on_write_shut();
    }
    if (conn->should_close()) {
      close(index);
      return;
    }
    if (!conn->read_paused() && !state.read_waiting) {
      state.read_waiting = true;
      state.socket->async_wait(asio::socket_base::wait_read,
                               [this, id](const asio::error_code& error) {
                                 loop.update_clock();
                                 if (error)
                                   return; // closed: the connection is gone
                                 on_readable(id);
                                 flush();
                               });
    }
  }

  /// Services every connection that changed during the last handler.
  void flush() {
    loop.take_touched(touched);
    for (auto index : touched)
      service(index);
    if (draining) {
      if (loop.open_connections() == 0 ||
          (forced && loop.context_.now_ms >= drain_deadline_ms + 1000))
        context.stop();
    }
  }

  void start_drain() {
    draining = true;
    drain_deadline_ms = loop.context_.now_ms + drain_timeout_ms;
    asio::error_code ignored;
    acceptor.close(ignored);
    loop.begin_drain();
  }

  void arm_timer() {
    timer.expires_after(std::chrono::milliseconds(core::limits::timer_tick_ms));
    timer.async_wait([this](const asio::error_code& error) {
      if (error)
        return;
      loop.update_clock();
      if (!draining && loop.drain_requested())
        start_drain();
      loop.tick_connections();
      if (draining && !forced && loop.context_.now_ms >= drain_deadline_ms) {
        forced = true;
        loop.for_each_connection([&](std::uint32_t index, connection& conn) {
          conn.abort();
          loop.touch(index);
        });
      }
      flush();
      arm_timer();
    });
  }

  void on_wake() {
    loop.update_clock();
    loop.drain_replies();
    if (!draining && loop.drain_requested())
      start_drain();
    flush();
  }

  void run() {
    loop.enter_thread();
    arm_accept();
    arm_timer();
    context.run();
    for (std::uint32_t i = 0; i < io.size(); ++i)
      if (io[i].socket)
        close(i);
  }
};

epoll_loop::epoll_loop(const connection_settings& settings, const route_table& routes,
                       listener_stats& stats, int listen_fd, connection_budget& budget,
                       std::uint32_t drain_timeout_ms)
  : io_loop(settings, routes, stats),
    impl_(std::make_unique<impl>(*this, listen_fd, budget, drain_timeout_ms)) {}

epoll_loop::~epoll_loop() = default;

std::optional<std::string> epoll_loop::setup() {
  return impl_->setup();
}

void epoll_loop::run() {
  impl_->run();
}

void epoll_loop::wake() noexcept {
  asio::post(impl_->context, [impl = impl_.get()] { impl->on_wake(); });
}

} // namespace steward::net
