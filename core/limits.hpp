#pragma once

// Every bound of the process, in one place (STYLE.md, "Limits on everything"). Each `*_max` here is a
// ceiling: configuration may lower it (core/options.hpp validates that) but never raise it. Each
// default is what stewardd uses when the operator says nothing.

#include <cstddef>
#include <cstdint>

namespace steward::core::limits {

// --- Threads -----------------------------------------------------------------------------------
inline constexpr std::uint32_t io_threads_max = 64;
inline constexpr std::uint32_t workers_max = 256;

// --- Connections -------------------------------------------------------------------------------
/// Open client connections per listener, all io threads together; past it a new connection gets
/// one 503 and is closed.
inline constexpr std::uint32_t connections_max = 65536;
inline constexpr std::uint32_t connections_default = 16384;
/// Requests of one connection that may be in flight at once (pipelining); further bytes wait in
/// the kernel until responses have been written (backpressure, not an error).
inline constexpr std::uint32_t pipeline_depth_max = 64;
inline constexpr std::uint32_t pipeline_depth_default = 32;
/// Bytes of responses queued on one connection before it stops reading.
inline constexpr std::size_t connection_output_bytes_max = 4u << 20;

// --- Request size ------------------------------------------------------------------------------
/// Request line (method, target, version, CRLF); past it: 431 headers_too_large. (RFC 9112 3
/// recommends supporting at least 8000 octets.)
inline constexpr std::size_t request_line_bytes_max = 8192;
/// Whole header section including the request line; past it: 431 headers_too_large.
inline constexpr std::size_t header_bytes_max = 32768;
inline constexpr std::size_t header_bytes_default = 16384;
inline constexpr std::size_t header_count_max = 100;
/// Request body after de-chunking; past it: 413 payload_too_large.
inline constexpr std::size_t body_bytes_max = 8u << 20;
inline constexpr std::size_t body_bytes_default = 1u << 20;
/// Chunk-size line and chunk extensions of a chunked body.
inline constexpr std::size_t chunk_line_bytes_max = 1024;
/// Trailer section of a chunked body.
inline constexpr std::size_t trailer_bytes_max = 4096;

static_assert(request_line_bytes_max <= header_bytes_default);
static_assert(header_bytes_default <= header_bytes_max);
static_assert(body_bytes_default <= body_bytes_max);
static_assert(header_bytes_max + body_bytes_max <= connection_output_bytes_max * 4,
              "one request must fit in the input buffer a connection may hold");

// --- Timeouts (milliseconds) --------------------------------------------------------------------
/// From the first byte of a request until its header section is complete (slow-loris).
inline constexpr std::uint32_t header_read_timeout_ms_max = 120'000;
inline constexpr std::uint32_t header_read_timeout_ms_default = 10'000;
/// From the end of the header section until the body is complete.
inline constexpr std::uint32_t body_read_timeout_ms_max = 300'000;
inline constexpr std::uint32_t body_read_timeout_ms_default = 30'000;
/// A keep-alive connection with no request in progress and nothing in flight.
inline constexpr std::uint32_t idle_timeout_ms_max = 3'600'000;
inline constexpr std::uint32_t idle_timeout_ms_default = 60'000;
/// An actor that does not answer within this gets its request answered 503 overloaded.
/// Long-poll routes (approvals, `wait` up to 60 s) add their wait on top of it.
inline constexpr std::uint32_t actor_timeout_ms_max = 120'000;
inline constexpr std::uint32_t actor_timeout_ms_default = 10'000;
/// Graceful drain after SIGTERM/SIGINT: in-flight work gets this long, then connections are cut.
inline constexpr std::uint32_t drain_timeout_ms_max = 300'000;
inline constexpr std::uint32_t drain_timeout_ms_default = 10'000;
/// Granularity of every connection timeout: the io loop checks deadlines this often.
inline constexpr std::uint32_t timer_tick_ms = 100;

static_assert(timer_tick_ms * 10 <= header_read_timeout_ms_default);

// --- io_uring transport ------------------------------------------------------------------------
inline constexpr std::uint32_t uring_entries = 4096;
/// Provided-buffer ring for multishot recv: count must be a power of two.
inline constexpr std::uint32_t recv_buffer_count = 1024;
inline constexpr std::size_t recv_buffer_bytes = 16384;
/// Completions handled per loop iteration before the loop submits again.
inline constexpr std::uint32_t completions_per_batch_max = 512;

static_assert((recv_buffer_count & (recv_buffer_count - 1)) == 0);
static_assert(recv_buffer_count <= 32768, "io_uring buffer rings hold at most 32768 entries");

// --- JSON ---------------------------------------------------------------------------------------
inline constexpr std::size_t json_depth_max = 32;
inline constexpr std::size_t json_string_bytes_max = 65536;

} // namespace steward::core::limits
