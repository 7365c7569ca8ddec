#include "net/uring_transport.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace steward::net {

namespace {

enum class op : std::uint8_t { accept = 1, recv, send, wake, cancel };

constexpr std::uint64_t encode(op kind, std::uint64_t connection_id = 0) noexcept {
  return (std::uint64_t(kind) << 56) | (connection_id & 0x00ff'ffff'ffff'ffffULL);
}
constexpr op kind_of(std::uint64_t user_data) noexcept { return op(user_data >> 56); }
constexpr std::uint64_t connection_of(std::uint64_t user_data) noexcept {
  return user_data & 0x00ff'ffff'ffff'ffffULL;
}

constexpr unsigned ring_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
constexpr std::uint16_t buffer_group = 0;
/// Connections past the limit that may linger while they are told 503; past this they are closed
/// at once without an answer.
constexpr std::uint32_t rejecting_max = 1024;

std::string errno_text(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

void set_nodelay(int fd) noexcept {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

} // namespace

std::optional<std::string> probe_io_uring() {
  io_uring ring{};
  io_uring_params params{};
  params.flags = ring_flags;
  int ret = io_uring_queue_init_params(8, &ring, &params);
  if (ret < 0)
    return errno_text("io_uring_setup with SINGLE_ISSUER and DEFER_TASKRUN (Linux 6.1+)", -ret);
  std::optional<std::string> problem;
  if (!(params.features & IORING_FEAT_EXT_ARG))
    problem = "io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+)";
  io_uring_queue_exit(&ring);
  return problem;
}

struct uring_loop::impl {
  struct io_state {
    int fd = -1;
    bool recv_armed = false;
    bool send_armed = false;
    bool cancel_pending = false;
    bool closing = false;
    bool rejected = false;
  };

  impl(uring_loop& owner, int listen, connection_budget& shared, std::uint32_t drain_ms)
    : loop(owner), listen_fd(listen), budget(shared), drain_timeout_ms(drain_ms) {}

  uring_loop& loop;
  io_uring ring{};
  bool ring_ready = false;
  int listen_fd;
  int event_fd = -1;
  std::uint64_t wake_value = 0;
  io_uring_buf_ring* buf_ring = nullptr;
  std::size_t buf_ring_bytes = 0;
  char* buffers = nullptr;
  connection_budget& budget;
  std::uint32_t drain_timeout_ms;
  std::vector<io_state> io;
  std::vector<std::uint32_t> touched;
  bool accept_armed = false;
  bool draining = false;
  std::int64_t drain_deadline_ms = 0;
  bool forced = false;

  io_uring_sqe* sqe() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring);
    if (entry == nullptr) {
      io_uring_submit(&ring);
      entry = io_uring_get_sqe(&ring);
    }
    STEWARD_ASSERT(entry != nullptr);
    return entry;
  }

  void arm_accept() {
    auto* entry = sqe();
    io_uring_prep_multishot_accept(entry, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(entry, encode(op::accept));
    accept_armed = true;
  }

  void arm_wake() {
    auto* entry = sqe();
    io_uring_prep_read(entry, event_fd, &wake_value, sizeof wake_value, 0);
    io_uring_sqe_set_data64(entry, encode(op::wake));
  }

  void arm_recv(std::uint32_t index, std::uint64_t id) {
    auto* entry = sqe();
    io_uring_prep_recv_multishot(entry, io[index].fd, nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = buffer_group;
    io_uring_sqe_set_data64(entry, encode(op::recv, id));
    io[index].recv_armed = true;
  }

  void cancel_recv(std::uint32_t index, std::uint64_t id) {
    auto* entry = sqe();
    io_uring_prep_cancel64(entry, encode(op::recv, id), 0);
    io_uring_sqe_set_data64(entry, encode(op::cancel, id));
    io[index].cancel_pending = true;
  }

  void return_buffer(std::uint16_t buffer_id) {
    io_uring_buf_ring_add(buf_ring, buffers + std::size_t(buffer_id) * core::limits::recv_buffer_bytes,
                          core::limits::recv_buffer_bytes, buffer_id,
                          io_uring_buf_ring_mask(core::limits::recv_buffer_count), 0);
    io_uring_buf_ring_advance(buf_ring, 1);
  }

  std::optional<std::string> setup() {
    io_uring_params params{};
    params.flags = ring_flags;
    int ret = io_uring_queue_init_params(core::limits::uring_entries, &ring, &params);
    if (ret < 0)
      return errno_text("io_uring_setup", -ret);
    ring_ready = true;
    if (!(params.features & IORING_FEAT_EXT_ARG))
      return "io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+)";
    event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd < 0)
      return errno_text("eventfd", errno);

    buf_ring_bytes = sizeof(io_uring_buf) * core::limits::recv_buffer_count;
    void* ring_memory = ::mmap(nullptr, buf_ring_bytes, PROT_READ | PROT_WRITE,
                               MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_memory == MAP_FAILED)
      return errno_text("mmap of the buffer ring", errno);
    buf_ring = static_cast<io_uring_buf_ring*>(ring_memory);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring);
    reg.ring_entries = core::limits::recv_buffer_count;
    reg.bgid = buffer_group;
    ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret < 0)
      return errno_text("io_uring_register_buf_ring (Linux 5.19+)", -ret);
    io_uring_buf_ring_init(buf_ring);
    buffers = static_cast<char*>(
      std::aligned_alloc(4096, core::limits::recv_buffer_count * core::limits::recv_buffer_bytes));
    if (buffers == nullptr)
      return "out of memory for receive buffers";
    auto mask = io_uring_buf_ring_mask(core::limits::recv_buffer_count);
    for (std::uint32_t i = 0; i < core::limits::recv_buffer_count; ++i)
      io_uring_buf_ring_add(buf_ring, buffers + std::size_t(i) * core::limits::recv_buffer_bytes,
                            core::limits::recv_buffer_bytes, std::uint16_t(i), mask, int(i));
    io_uring_buf_ring_advance(buf_ring, int(core::limits::recv_buffer_count));
    return std::nullopt;
  }

  ~impl() {
    for (auto& state : io)
      if (state.fd >= 0)
        ::close(state.fd);
    if (listen_fd >= 0)
      ::close(listen_fd);
    if (ring_ready)
      io_uring_queue_exit(&ring);
    if (buf_ring != nullptr)
      ::munmap(buf_ring, buf_ring_bytes);
    std::free(buffers);
    if (event_fd >= 0)
      ::close(event_fd);
  }

  void on_accept(int fd) {
    set_nodelay(fd);
    if (draining) {
      ::close(fd);
      return;
    }
    bool over = budget.open.fetch_add(1, std::memory_order_relaxed) >= budget.max;
    if (over) {
      budget.open.fetch_sub(1, std::memory_order_relaxed);
      loop.stats_.connection_rejected();
      if (budget.rejecting.fetch_add(1, std::memory_order_relaxed) >= rejecting_max) {
        budget.rejecting.fetch_sub(1, std::memory_order_relaxed);
        ::close(fd);
        return;
      }
    }
    std::uint32_t index = loop.add_connection(!over);
    if (io.size() <= index)
      io.resize(index + 1);
    io[index] = io_state{};
    io[index].fd = fd;
    io[index].rejected = over;
    if (over)
      loop.at(index)->reject_overloaded();
    loop.touch(index);
  }

  /// The connection at `index` if `id` still names it.
  connection* live(std::uint64_t id) {
    auto index = index_of(id);
    auto* conn = loop.at(index);
    return conn != nullptr && conn->id() == id ? conn : nullptr;
  }

  void handle(io_uring_cqe* cqe) {
    std::uint64_t data = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    switch (kind_of(data)) {
    case op::accept:
      if (res >= 0)
        on_accept(res);
      if (!more) {
        accept_armed = false;
        if (!draining)
          arm_accept();
      }
      break;
    case op::wake:
      loop.drain_replies();
      arm_wake();
      break;
    case op::recv: {
      std::uint64_t id = connection_of(data);
      auto index = index_of(id);
      auto* conn = live(id);
      if (cqe->flags & IORING_CQE_F_BUFFER) {
        auto buffer_id = std::uint16_t(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (res > 0 && conn != nullptr && !io[index].closing)
          conn->on_received(buffers + std::size_t(buffer_id) * core::limits::recv_buffer_bytes,
                            std::size_t(res));
        return_buffer(buffer_id);
      }
      if (conn == nullptr)
        break;
      if (!more)
        io[index].recv_armed = false;
      if (res == 0)
        conn->on_peer_closed();
      else if (res < 0 && res != -ENOBUFS && res != -ECANCELED)
        conn->abort();
      loop.touch(index);
      break;
    }
    case op::send: {
      std::uint64_t id = connection_of(data);
      auto index = index_of(id);
      auto* conn = live(id);
      if (conn == nullptr)
        break;
      io[index].send_armed = false;
      if (res >= 0)
        conn->on_sent(std::size_t(res));
      else
        conn->abort();
      loop.touch(index);
      break;
    }
    case op::cancel: {
      std::uint64_t id = connection_of(data);
      if (live(id) != nullptr) {
        io[index_of(id)].cancel_pending = false;
        loop.touch(index_of(id));
      }
      break;
    }
    }
  }

  void begin_close(std::uint32_t index, std::uint64_t id) {
    auto& state = io[index];
    if (!state.closing) {
      state.closing = true;
      ::shutdown(state.fd, SHUT_RDWR);
    }
    if (state.recv_armed && !state.cancel_pending)
      cancel_recv(index, id);
    finish_close(index);
  }

  void finish_close(std::uint32_t index) {
    auto& state = io[index];
    if (state.recv_armed || state.send_armed || state.cancel_pending)
      return; // the kernel still holds buffers of ours for this socket
    ::close(state.fd);
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
    if (state.closing || conn->should_close()) {
      begin_close(index, id);
      return;
    }
    if (!state.send_armed) {
      auto bytes = conn->next_send();
      if (!bytes.empty()) {
        auto* entry = sqe();
        io_uring_prep_send(entry, state.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(entry, encode(op::send, id));
        state.send_armed = true;
      }
    }
    if (conn->should_shutdown_write()) {
      ::shutdown(state.fd, SHUT_WR);
      conn->on_write_shut();
      if (conn->should_close()) {
        begin_close(index, id);
        return;
      }
    }
    bool want_read = !conn->read_paused();
    if (want_read && !state.recv_armed && !state.cancel_pending)
      arm_recv(index, id);
    else if (!want_read && state.recv_armed && !state.cancel_pending)
      cancel_recv(index, id);
  }

  void start_drain() {
    draining = true;
    drain_deadline_ms = loop.context_.now_ms + drain_timeout_ms;
    // Stop listening now: until the cancelled accept completes and the fd can be closed, the kernel
    // would otherwise keep completing handshakes into the backlog that nobody will accept.
    ::shutdown(listen_fd, SHUT_RDWR);
    if (accept_armed) {
      auto* entry = sqe();
      io_uring_prep_cancel64(entry, encode(op::accept), 0);
      io_uring_sqe_set_data64(entry, encode(op::cancel));
    }
    loop.begin_drain();
  }

  void run() {
    loop.enter_thread();
    arm_accept();
    arm_wake();
    std::int64_t next_tick_ms = loop.context_.now_ms + core::limits::timer_tick_ms;
    for (;;) {
      if (!draining && loop.drain_requested())
        start_drain();
      if (draining) {
        if (!accept_armed && listen_fd >= 0) {
          ::close(listen_fd);
          listen_fd = -1;
        }
        if (listen_fd < 0 && loop.open_connections() == 0)
          break;
        if (!forced && loop.context_.now_ms >= drain_deadline_ms) {
          forced = true;
          loop.for_each_connection([&](std::uint32_t index, connection& conn) {
            conn.abort();
            loop.touch(index);
          });
        }
        // Sockets whose cancellations never complete must not keep the process alive.
        if (forced && loop.context_.now_ms >= drain_deadline_ms + 1000)
          break;
      }
      loop.take_touched(touched);
      for (auto index : touched)
        service(index);

      __kernel_timespec timeout{};
      std::int64_t wait_ms = std::max<std::int64_t>(0, next_tick_ms - loop.context_.now_ms);
      timeout.tv_sec = wait_ms / 1000;
      timeout.tv_nsec = (wait_ms % 1000) * 1'000'000;
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &timeout, nullptr);
      loop.update_clock();

      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        handle(cqe);
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);

      if (loop.context_.now_ms >= next_tick_ms) {
        loop.tick_connections();
        next_tick_ms = loop.context_.now_ms + core::limits::timer_tick_ms;
      }
    }
  }
};

uring_loop::uring_loop(const connection_settings& settings, const route_table& routes,
                       listener_stats& stats, int listen_fd, connection_budget& budget,
                       std::uint32_t drain_timeout_ms)
  : io_loop(settings, routes, stats),
    impl_(std::make_unique<impl>(*this, listen_fd, budget, drain_timeout_ms)) {}

uring_loop::~uring_loop() = default;

std::optional<std::string> uring_loop::setup() {
  return impl_->setup();
}

void uring_loop::run() {
  impl_->run();
}

void uring_loop::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(impl_->event_fd, &one, sizeof one);
}

} // namespace steward::net
