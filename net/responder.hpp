#pragma once

// The handle through which a request's handler answers it, from any thread. A responder is a small
// copyable value; the io loop it names must outlive it (the server keeps its loops alive until the
// actor system has stopped, see server.hpp).

#include "net/http_message.hpp"

#include <cstdint>

namespace steward::net {

class io_loop;

class responder {
public:
  responder() noexcept = default;
  responder(io_loop* loop, std::uint64_t connection, std::uint32_t sequence) noexcept
    : loop_(loop), connection_(connection), sequence_(sequence) {}

  /// Answers the request. On the connection's own io thread this is a direct call; from any other
  /// thread (an actor) the response joins the loop's reply queue and the loop is woken once per
  /// batch. A second answer to the same request, or one after the connection closed or the request
  /// timed out, is dropped and counted.
  void respond(http_response&& response) const;

  /// Closes the request's connection at once, without an answer to it or to any request pipelined
  /// behind it; answers of earlier requests not yet written to the socket may be lost too. For a peer that must see a connection drop — the
  /// reference provider's `drop` fault — never for steward's own errors, which are problems.
  /// Like `respond`, it counts as the request's answer: a later one is dropped.
  void abort() const;

  bool valid() const noexcept { return loop_ != nullptr; }

private:
  io_loop* loop_ = nullptr;
  std::uint64_t connection_ = 0;
  std::uint32_t sequence_ = 0;
};

} // namespace steward::net
