#include "net/listener_metrics.hpp"

#include <algorithm>

namespace steward::net {

namespace {

/// Statuses that get a series of their own; any other counts under status="other".
const std::vector<std::uint16_t> tracked_statuses = {200, 201, 202, 204, 400, 401, 402, 403, 404,
                                                     405, 408, 409, 413, 422, 429, 431, 500, 501,
                                                     502, 503, 505};

constexpr std::array<std::string_view, timeout_kind_count> timeout_names = {"header", "body", "idle",
                                                                            "actor", "send"};

/// A route's label is its pattern ("/v1/kill"); a pattern served for several methods gets the
/// method in front on every route after its first ("DELETE /v1/kill"), so each label is unique.
std::vector<std::string> route_labels(const router& routes) {
  std::vector<std::string> labels;
  for (std::size_t id = 0; id < routes.size(); ++id) {
    std::string label(routes.pattern(route_id(id)));
    if (std::find(labels.begin(), labels.end(), label) != labels.end())
      label = std::string(to_string(routes.method(route_id(id)))) + " " + label;
    labels.push_back(std::move(label));
  }
  return labels;
}

} // namespace

listener_metrics::listener_metrics(core::metrics::registry& registry, std::string listener,
                                   const router& routes)
  : connections_(registry.add_gauge("steward_http_connections", "Open client connections.",
                                    {{"listener", listener}})),
    accepted_(registry.add_counter("steward_http_connections_accepted_total",
                                   "Connections accepted within the limit.",
                                   {{"listener", listener}})),
    rejected_(registry.add_counter("steward_http_connections_rejected_total",
                                   "Connections past the limit, answered 503 and closed.",
                                   {{"listener", listener}})),
    late_replies_(registry.add_counter(
      "steward_http_late_replies_total",
      "Answers that arrived after their request timed out or its connection closed.",
      {{"listener", listener}})),
    requests_(registry.add_request_stats(listener, route_labels(routes), tracked_statuses)) {
  for (std::size_t kind = 0; kind < timeout_kind_count; ++kind)
    timeouts_[kind] = &registry.add_counter(
      "steward_http_timeouts_total",
      "Requests or connections ended by a timeout: header, body, idle, actor (no answer), send.",
      {{"listener", listener}, {"kind", std::string(timeout_names[kind])}});
}

void listener_metrics::connection_opened() noexcept {
  connections_.inc();
  accepted_.inc();
}

void listener_metrics::connection_closed() noexcept {
  connections_.dec();
}

void listener_metrics::connection_rejected() noexcept {
  rejected_.inc();
}

void listener_metrics::request_done(std::uint32_t route, std::uint16_t status,
                                    std::uint64_t duration_ns) noexcept {
  requests_.record(route, status, duration_ns);
}

void listener_metrics::timed_out(timeout_kind kind) noexcept {
  timeouts_[std::size_t(kind)]->inc();
}

void listener_metrics::late_reply() noexcept {
  late_replies_.inc();
}

} // namespace steward::net
