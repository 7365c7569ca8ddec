#include "net/io_loop.hpp"

#include "core/assert.hpp"
#include "net/http_serializer.hpp"

#include <chrono>
#include <ctime>

namespace steward::net {

namespace {

thread_local io_loop* current_loop = nullptr;

} // namespace

void responder::respond(http_response&& response) const {
  if (!STEWARD_SURVIVABLE(loop_ != nullptr))
    return;
  loop_->deliver(connection_, sequence_, std::move(response));
}

void responder::abort() const {
  if (!STEWARD_SURVIVABLE(loop_ != nullptr))
    return;
  http_response closing;
  closing.status = connection::abort_status;
  loop_->deliver(connection_, sequence_, std::move(closing));
}

// --- reply_queue ------------------------------------------------------------------------------------

bool reply_queue::push(std::uint64_t connection, std::uint32_t sequence, http_response&& response) {
  std::lock_guard<std::mutex> guard(mutex_);
  entries_.push_back(entry{connection, sequence, std::move(response)});
  if (wake_pending_)
    return false;
  wake_pending_ = true;
  return true;
}

void reply_queue::take(std::vector<entry>& out) {
  STEWARD_DEBUG_ASSERT(out.empty());
  std::lock_guard<std::mutex> guard(mutex_);
  out.swap(entries_);
  wake_pending_ = false;
}

// --- io_loop --------------------------------------------------------------------------------------

io_loop::io_loop(const connection_settings& settings, const route_table& routes,
                 listener_stats& stats)
  : stats_(stats) {
  context_.settings = &settings;
  context_.routes = &routes;
  context_.stats = &stats;
  context_.loop = this;
  update_clock();
}

void io_loop::enter_thread() noexcept {
  current_loop = this;
}

void io_loop::deliver(std::uint64_t connection_id, std::uint32_t sequence,
                      http_response&& response) {
  if (current_loop == this) {
    if (auto* conn = find(connection_id)) {
      conn->on_response(sequence, std::move(response));
      touch(index_of(connection_id));
    } else
      stats_.late_reply();
    return;
  }
  if (replies_.push(connection_id, sequence, std::move(response)))
    wake();
}

void io_loop::request_drain() noexcept {
  drain_requested_.store(true, std::memory_order_release);
  wake();
}

std::uint32_t io_loop::add_connection(bool within_limit) {
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = std::uint32_t(slab_.size());
    slab_.emplace_back();
  }
  auto& entry = slab_[index];
  entry.generation = (entry.generation + 1) & 0x00ff'ffff;
  entry.touched = false;
  entry.within_limit = within_limit;
  std::uint64_t id = (std::uint64_t(entry.generation) << 32) | index;
  entry.conn = std::make_unique<connection>(context_, id);
  open_.fetch_add(1, std::memory_order_relaxed);
  if (within_limit)
    stats_.connection_opened();
  return index;
}

connection* io_loop::find(std::uint64_t id) noexcept {
  std::uint32_t index = index_of(id);
  if (index >= slab_.size())
    return nullptr;
  auto& entry = slab_[index];
  if (!entry.conn || entry.conn->id() != id)
    return nullptr;
  return entry.conn.get();
}

void io_loop::remove_connection(std::uint32_t index) noexcept {
  STEWARD_DEBUG_ASSERT(index < slab_.size() && slab_[index].conn);
  slab_[index].conn.reset();
  free_.push_back(index);
  open_.fetch_sub(1, std::memory_order_relaxed);
  if (slab_[index].within_limit)
    stats_.connection_closed();
}

std::size_t io_loop::drain_replies() {
  replies_.take(batch_);
  std::size_t count = batch_.size();
  for (auto& entry : batch_) {
    if (auto* conn = find(entry.connection)) {
      conn->on_response(entry.sequence, std::move(entry.response));
      touch(index_of(entry.connection));
    } else
      stats_.late_reply();
  }
  batch_.clear();
  return count;
}

void io_loop::update_clock() noexcept {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  context_.now_ns = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  context_.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  std::int64_t wall = std::time(nullptr);
  if (wall != date_second_) {
    date_second_ = wall;
    format_http_date(wall, context_.http_date);
  }
}

void io_loop::tick_connections() {
  for (std::uint32_t i = 0; i < slab_.size(); ++i)
    if (slab_[i].conn) {
      slab_[i].conn->on_tick();
      touch(i);
    }
}

void io_loop::begin_drain() {
  context_.draining = true;
  for (std::uint32_t i = 0; i < slab_.size(); ++i)
    if (slab_[i].conn) {
      slab_[i].conn->on_drain();
      touch(i);
    }
}

void io_loop::touch(std::uint32_t index) {
  auto& entry = slab_[index];
  if (!entry.touched) {
    entry.touched = true;
    touched_.push_back(index);
  }
}

void io_loop::take_touched(std::vector<std::uint32_t>& out) {
  out.clear();
  out.swap(touched_);
  for (auto index : out)
    slab_[index].touched = false;
}

} // namespace steward::net
