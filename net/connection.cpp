#include "net/connection.hpp"

#include "core/assert.hpp"
#include "net/http_serializer.hpp"
#include "net/io_loop.hpp"
#include "net/problem_response.hpp"

#include <algorithm>
#include <cstring>

namespace steward::net {

namespace {

/// An input buffer keeps this much memory at rest; a larger one is released once empty.
constexpr std::size_t input_buffer_idle_bytes = 4096;
constexpr std::size_t output_buffer_idle_bytes = 16384;

} // namespace

// --- input_buffer ---------------------------------------------------------------------------------

void input_buffer::append(const char* bytes, std::size_t count) {
  if (end_ + count + padding_bytes > capacity_) {
    std::size_t live = end_ - begin_;
    std::size_t needed = live + count + padding_bytes;
    if (needed <= capacity_) {
      std::memmove(data_.get(), data_.get() + begin_, live);
    } else {
      std::size_t capacity = std::max<std::size_t>(capacity_ * 2, input_buffer_idle_bytes);
      while (capacity < needed)
        capacity *= 2;
      auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
      if (live > 0)
        std::memcpy(fresh.get(), data_.get() + begin_, live);
      data_ = std::move(fresh);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = live;
  }
  std::memcpy(data_.get() + end_, bytes, count);
  end_ += count;
  // Zero the padding so that nothing uninitialised is ever read behind a body.
  std::memset(data_.get() + end_, 0, padding_bytes);
}

void input_buffer::consume(std::size_t count) noexcept {
  STEWARD_DEBUG_ASSERT(count <= end_ - begin_);
  begin_ += count;
  if (begin_ == end_)
    begin_ = end_ = 0;
}

void input_buffer::shrink_if_idle() noexcept {
  if (begin_ == end_ && capacity_ > input_buffer_idle_bytes) {
    data_.reset();
    capacity_ = 0;
    begin_ = end_ = 0;
  }
}

// --- connection -----------------------------------------------------------------------------------

connection::connection(loop_context& context, std::uint64_t id)
  : context_(context), id_(id), parser_(context.settings->parse) {
  idle_since_ms_ = context_.now_ms;
  if (context_.draining)
    on_drain();
}

void connection::on_received(const char* bytes, std::size_t count) {
  if (write_shut_ || close_now_)
    return; // lingering: input after the final response is discarded
  input_.append(bytes, count);
  parse_input();
}

void connection::on_peer_closed() {
  peer_closed_ = true;
  if (write_shut_) {
    close_now_ = true;
    return;
  }
  // A client may half-close after sending (RFC 9112 9.6): complete requests still buffered (behind a
  // full pipeline, say) are answered, then the connection closes; a request cut short never
  // completes and is dropped.
  parse_input();
  finish_if_peer_gone();
}

void connection::finish_if_peer_gone() noexcept {
  if (peer_closed_ && !parsing_ && slots_.empty() && output_.empty() && !send_in_flight_ &&
      sending_offset_ == sending_.size())
    close_now_ = true;
}

bool connection::output_backlogged() const noexcept {
  return output_.size() + sending_.size() > core::limits::connection_output_bytes_max;
}

bool connection::read_paused() const noexcept {
  // After the peer's FIN there is nothing more to read; re-arming would only return EOF again.
  return peer_closed_ || slots_.size() >= context_.settings->pipeline_depth_max ||
         output_backlogged();
}

bool connection::parsing_blocked() const noexcept {
  return slots_.size() >= context_.settings->pipeline_depth_max || output_backlogged();
}

void connection::parse_input() {
  if (parsing_)
    return; // re-entered from a handler that answered synchronously; the outer loop continues
  parsing_ = true;
  while (!stop_parsing_ && !input_.empty() && !parsing_blocked()) {
    if (!parser_.in_progress())
      request_started_ms_ = context_.now_ms;
    auto status = parser_.parse(input_.view());
    if (status == parse_status::need_more) {
      if (parser_.headers_complete() && headers_done_ms_ == 0)
        headers_done_ms_ = context_.now_ms;
      break;
    }
    if (status == parse_status::error) {
      reject(parser_.error_status(), parser_.error_detail());
      break;
    }
    // The handler runs before the bytes are consumed: the request views them.
    dispatch(parser_.request());
    input_.consume(parser_.consumed());
    parser_.reset();
    request_started_ms_ = 0;
    headers_done_ms_ = 0;
  }
  if (!parser_.in_progress())
    request_started_ms_ = 0;
  parsing_ = false;
  flush_ready();
}

void connection::dispatch(const http_request& request) {
  slot& s = slots_.emplace_back();
  s.sequence = next_sequence_++;
  s.head_request = request.method == http_method::head;
  s.started_ns = context_.now_ns;
  s.deadline_ms = context_.now_ms + context_.settings->actor_timeout_ms;
  if (!request.keep_alive || context_.draining) {
    s.close_after = true;
    stop_parsing_ = true;
  }

  route_params params;
  auto match = context_.routes->routes.match(request.method, request.path, params);
  switch (match.result) {
  case route_match::kind::found: {
    s.route = match.id;
    s.deadline_ms += context_.routes->extra_wait_ms[match.id];
    auto& handle = context_.routes->handlers[match.id];
    // The handler may answer synchronously, which re-enters on_response for this slot.
    handle(request, params, responder(context_.loop, id_, s.sequence));
    break;
  }
  case route_match::kind::not_found:
    answer_now(s, problem_response(core::api_error::not_found, "no such resource"));
    break;
  case route_match::kind::method_not_allowed: {
    auto response = problem_response(core::api_error::method_not_allowed,
                                     "this resource does not support the method");
    response.headers.emplace_back("Allow", std::string(match.allow));
    answer_now(s, std::move(response));
    break;
  }
  }
}

void connection::answer_now(slot& s, http_response&& response) {
  s.response = std::move(response);
  s.ready = true;
}

void connection::reject(std::uint16_t parse_status, std::string_view detail) {
  slot& s = slots_.emplace_back();
  s.sequence = next_sequence_++;
  s.started_ns = context_.now_ns;
  s.close_after = true;
  answer_now(s, problem_response(problem_for_parse_status(parse_status), detail));
  stop_parsing_ = true;
}

void connection::on_response(std::uint32_t sequence, http_response&& response) {
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [sequence](const slot& s) { return s.sequence == sequence; });
  // A connection closing now (aborted, timed out, drained) writes nothing more; with io_uring it
  // outlives its close until the kernel completes its operations, so an answer can still find it.
  if (it == slots_.end() || it->ready || close_now_) {
    context_.stats->late_reply();
    return;
  }
  if (response.status == abort_status) {
    context_.stats->request_done(it->route, abort_status, context_.now_ns - it->started_ns);
    abort();
    return;
  }
  answer_now(*it, std::move(response));
  flush_ready();
}

void connection::flush_ready() {
  bool wrote = false;
  while (!slots_.empty() && slots_.front().ready) {
    slot& s = slots_.front();
    bool close = s.close_after || s.response.close || context_.draining;
    append_response(output_, s.response, close, s.head_request, {context_.http_date, 29});
    context_.stats->request_done(s.route, s.response.status, context_.now_ns - s.started_ns);
    slots_.pop_front();
    wrote = true;
    if (close) {
      stop_parsing_ = true;
      slots_.clear(); // nothing after a closing response is ever answered
      begin_close_after_output();
      break;
    }
  }
  if (wrote && slots_.empty() && !stop_parsing_) {
    idle_since_ms_ = context_.now_ms;
    // Pipelined requests may be waiting behind a full pipeline.
    if (!input_.empty() && !parsing_blocked())
      parse_input();
  }
}

void connection::begin_close_after_output() noexcept {
  close_requested_ = true;
}

std::string_view connection::next_send() {
  if (send_in_flight_)
    return {};
  if (sending_offset_ == sending_.size()) {
    if (output_.empty())
      return {};
    sending_.clear();
    sending_offset_ = 0;
    std::swap(sending_, output_);
  }
  send_in_flight_ = true;
  send_started_ms_ = context_.now_ms;
  return {sending_.data() + sending_offset_, sending_.size() - sending_offset_};
}

void connection::on_sent(std::size_t count) {
  STEWARD_DEBUG_ASSERT(send_in_flight_);
  send_in_flight_ = false;
  sending_offset_ += count;
  if (sending_offset_ == sending_.size()) {
    sending_.clear();
    sending_offset_ = 0;
    if (sending_.capacity() > output_buffer_idle_bytes)
      std::string().swap(sending_);
    if (slots_.empty() && output_.empty())
      input_.shrink_if_idle();
  }
  // Responses held back by a full output may now let parsing continue.
  if (!stop_parsing_ && !input_.empty() && !parsing_blocked())
    parse_input();
  finish_if_peer_gone();
}

bool connection::should_shutdown_write() const noexcept {
  return close_requested_ && !write_shut_ && !close_now_ && !send_in_flight_ &&
         output_.empty() && sending_offset_ == sending_.size();
}

void connection::on_write_shut() noexcept {
  write_shut_ = true;
  linger_until_ms_ = context_.now_ms + context_.settings->linger_ms;
  if (peer_closed_)
    close_now_ = true;
}

void connection::reject_overloaded() {
  slot& s = slots_.emplace_back();
  s.sequence = next_sequence_++;
  s.started_ns = context_.now_ns;
  s.close_after = true;
  stop_parsing_ = true;
  answer_now(s, problem_response(core::api_error::overloaded,
                                 "too many connections; retry later"));
  flush_ready();
}

void connection::on_drain() {
  if (slots_.empty() && !parser_.in_progress() && output_.empty() && !send_in_flight_) {
    close_now_ = true;
    return;
  }
  // In flight: answer it, then close (flush_ready adds Connection: close while draining).
}

void connection::on_tick() {
  auto now = context_.now_ms;
  const auto& settings = *context_.settings;
  if (close_now_)
    return;
  if (write_shut_) {
    if (now >= linger_until_ms_)
      close_now_ = true;
    return;
  }
  if (send_in_flight_ && now - send_started_ms_ > std::int64_t(settings.idle_timeout_ms)) {
    // The peer stopped reading its responses.
    context_.stats->timed_out(timeout_kind::send);
    close_now_ = true;
    return;
  }
  bool answered = false;
  for (auto& s : slots_) {
    if (!s.ready && now >= s.deadline_ms) {
      context_.stats->timed_out(timeout_kind::actor);
      answer_now(s, problem_response(core::api_error::overloaded,
                                     "the request was not answered in time; retry it"));
      answered = true;
    }
  }
  if (answered) {
    flush_ready();
    return;
  }
  if (!slots_.empty() || stop_parsing_)
    return;
  if (parser_.in_progress()) {
    bool body_phase = parser_.headers_complete();
    std::int64_t since = body_phase ? headers_done_ms_ : request_started_ms_;
    std::uint32_t limit = body_phase ? settings.body_read_timeout_ms : settings.header_read_timeout_ms;
    if (since != 0 && now - since >= std::int64_t(limit)) {
      context_.stats->timed_out(body_phase ? timeout_kind::body : timeout_kind::header);
      slot& s = slots_.emplace_back();
      s.sequence = next_sequence_++;
      s.started_ns = context_.now_ns;
      s.close_after = true;
      stop_parsing_ = true;
      answer_now(s, problem_response(core::api_error::request_timeout,
                                     body_phase ? "the request body was not received in time"
                                                : "the request header was not received in time"));
      flush_ready();
    }
    return;
  }
  if (!send_in_flight_ && output_.empty() &&
      now - idle_since_ms_ >= std::int64_t(settings.idle_timeout_ms)) {
    context_.stats->timed_out(timeout_kind::idle);
    close_now_ = true;
  }
}

} // namespace steward::net
