#pragma once

// A net::responder that can answer late without blocking an io thread: the answer is handed to the
// timer thread (timer_thread.hpp), which sends it once the delay has passed. Used by the injected
// `latency` and `after-charge-timeout` faults (fault.hpp); with no delay it is the responder itself.
// The `drop` fault makes it close the connection where an executed POST /resources would answer.
//
// Lifetime: the timer thread must be stopped before the server's loops are gone (a stopped timer
// thread sends the delayed answers at once), as `service::stop()` documents.

#include "net/responder.hpp"
#include "tools/refprovider/timer_thread.hpp"

#include <cstdint>
#include <memory>
#include <utility>

namespace steward::refprovider {

class delayed_responder {
public:
  delayed_responder(net::responder reply, timer_thread* timers, std::uint32_t latency_ms = 0,
                    std::uint32_t after_work_ms = 0, bool drop_after_work = false) noexcept
      : reply_(reply), timers_(timers), latency_ms_(latency_ms), after_work_ms_(after_work_ms),
        drop_after_work_(drop_after_work) {}

  /// Answers after the request's latency.
  void respond(net::http_response&& response) const { send(std::move(response), latency_ms_); }

  /// Answers a request that did its work (POST /resources that charged and stored its outcome)
  /// after its latency and its `after-charge-timeout` delay — or, with the `drop` fault, closes the
  /// connection then instead.
  void respond_after_work(net::http_response&& response) const {
    send(std::move(response), latency_ms_ + after_work_ms_, drop_after_work_);
  }

private:
  void send(net::http_response&& response, std::uint32_t delay_ms, bool drop = false) const {
    auto deliver = [drop](const net::responder& reply, net::http_response&& answer) {
      if (drop)
        reply.abort();
      else
        reply.respond(std::move(answer));
    };
    if (delay_ms == 0 || timers_ == nullptr) {
      deliver(reply_, std::move(response));
      return;
    }
    auto reply = reply_;
    // The task must be copyable (std::function); a shared answer keeps the copy cheap.
    auto held = std::make_shared<net::http_response>(std::move(response));
    // When the timer thread is full or stopping, the fault is skipped: answering now beats never.
    if (!timers_->after(delay_ms, [reply, held, deliver](bool) { deliver(reply, std::move(*held)); }))
      deliver(reply_, std::move(*held));
  }

  net::responder reply_;
  timer_thread* timers_ = nullptr;
  std::uint32_t latency_ms_ = 0;
  std::uint32_t after_work_ms_ = 0;
  bool drop_after_work_ = false;
};

} // namespace steward::refprovider
