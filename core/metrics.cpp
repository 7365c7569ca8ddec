#include "core/metrics.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <variant>

namespace steward::core::metrics {

namespace {

/// Longest duration an observation can carry: about 570 years in nanoseconds, below 2^64 so that
/// converting a double never overflows.
constexpr double observation_seconds_max = 1.8e10;

constexpr std::string_view requests_name = "steward_http_requests_total";
constexpr std::string_view requests_help = "HTTP requests answered, by listener, route and status.";
constexpr std::string_view durations_name = "steward_http_request_duration_seconds";
constexpr std::string_view durations_help =
  "Time from the start of an HTTP request until its response was ready, by listener and route.";

bool is_metric_name(std::string_view name) {
  if (name.empty())
    return false;
  auto const first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  auto const rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  return first(name.front()) && std::all_of(name.begin() + 1, name.end(), rest);
}

bool is_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__"))
    return false;
  auto const first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  auto const rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  return first(name.front()) && std::all_of(name.begin() + 1, name.end(), rest);
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

/// HELP text escapes backslash and line feed only.
void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_label(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += "=\"";
  append_label_value(out, value);
  out += '"';
}

/// Shortest text that reads back as the same double; plain decimals in the usual range, because
/// `le="0.0001"` is what people grep for, not `le="1e-04"`.
void append_double(std::string& out, double value) {
  std::array<char, 64> buffer{};
  auto const magnitude = std::fabs(value);
  auto const format = value == 0 || (magnitude >= 1e-6 && magnitude < 1e15)
                        ? std::chars_format::fixed
                        : std::chars_format::general;
  auto const result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, format);
  STEWARD_ASSERT(result.ec == std::errc());
  out.append(buffer.data(), result.ptr);
}

void append_unsigned(std::string& out, std::uint64_t value) {
  std::array<char, 24> buffer{};
  auto const result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

void append_signed(std::string& out, std::int64_t value) {
  std::array<char, 24> buffer{};
  auto const result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

/// `name{labels} ` or `name ` when there are none; the caller appends the value.
void append_series_start(std::string& out, std::string_view name, std::string_view suffix,
                         std::string_view labels) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
}

/// The `_bucket`, `_sum` and `_count` lines of one histogram series; `labels` without braces.
void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      std::span<const double> bounds_seconds, const histogram_snapshot& snapshot) {
  for (std::size_t i = 0; i <= bounds_seconds.size(); ++i) {
    out += name;
    out += "_bucket{";
    if (!labels.empty()) {
      out += labels;
      out += ',';
    }
    out += "le=\"";
    if (i < bounds_seconds.size())
      append_double(out, bounds_seconds[i]);
    else
      out += "+Inf";
    out += "\"} ";
    append_unsigned(out, snapshot.cumulative[i]);
    out += '\n';
  }
  append_series_start(out, name, "_sum", labels);
  append_double(out, snapshot.sum_seconds);
  out += '\n';
  append_series_start(out, name, "_count", labels);
  append_unsigned(out, snapshot.count);
  out += '\n';
}

std::uint64_t seconds_to_ns(double seconds) {
  if (!(seconds > 0))
    return 0;
  if (seconds >= observation_seconds_max)
    return static_cast<std::uint64_t>(observation_seconds_max * 1e9);
  return static_cast<std::uint64_t>(std::llround(seconds * 1e9));
}

/// Converts and checks bucket bounds: finite, not negative, strictly increasing in nanoseconds.
std::vector<std::uint64_t> bounds_to_ns(std::span<const double> bounds_seconds) {
  std::vector<std::uint64_t> bounds_ns;
  bounds_ns.reserve(bounds_seconds.size());
  for (double bound : bounds_seconds) {
    STEWARD_ASSERT(std::isfinite(bound) && bound >= 0 && bound < observation_seconds_max);
    auto const ns = seconds_to_ns(bound);
    STEWARD_ASSERT(bounds_ns.empty() || ns > bounds_ns.back());
    bounds_ns.push_back(ns);
  }
  return bounds_ns;
}

histogram_snapshot read_histogram(const detail::sharded_cells& cells, std::size_t first_cell,
                                  std::size_t bucket_count) {
  histogram_snapshot snapshot;
  snapshot.cumulative.reserve(bucket_count + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bucket_count; ++i) {
    running += cells.sum(first_cell + i);
    snapshot.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so `_count` and `le="+Inf"` always agree even while threads
  // keep recording during the read.
  snapshot.count = running;
  snapshot.sum_seconds = static_cast<double>(cells.sum(first_cell + bucket_count + 1)) / 1e9;
  return snapshot;
}

struct counter_callback {
  std::function<std::uint64_t()> read;
};
struct gauge_callback {
  std::function<std::int64_t()> read;
};
struct stats_requests {
  const request_stats* stats;
};
struct stats_durations {
  const request_stats* stats;
};

} // namespace

namespace detail {

std::size_t assign_shard() noexcept {
  static std::atomic<std::size_t> next_shard{0};
  return next_shard.fetch_add(1, std::memory_order_relaxed) % shard_count;
}

sharded_cells::sharded_cells(std::size_t cells_per_shard)
  : lines_per_shard_((cells_per_shard + cells_per_line - 1) / cells_per_line),
    lines_(new line[shard_count * lines_per_shard_]()) {
}

std::uint64_t sharded_cells::sum(std::size_t cell) const noexcept {
  std::uint64_t total = 0;
  for (std::size_t shard = 0; shard < shard_count; ++shard) {
    total += lines_[shard * lines_per_shard_ + cell / cells_per_line]
               .cells[cell % cells_per_line]
               .load(std::memory_order_relaxed);
  }
  return total;
}

} // namespace detail

// --- histogram -------------------------------------------------------------------------------------

histogram::histogram(std::span<const double> bounds_seconds)
  : bounds_seconds_(bounds_seconds.begin(), bounds_seconds.end()),
    bounds_ns_(bounds_to_ns(bounds_seconds)),
    cells_(bounds_seconds.size() + 2) {
}

void histogram::observe(double seconds) noexcept {
  observe_ns(seconds_to_ns(seconds));
}

histogram_snapshot histogram::snapshot() const {
  return read_histogram(cells_, 0, bounds_ns_.size());
}

// --- request_stats ---------------------------------------------------------------------------------

request_stats::request_stats(std::string listener, std::vector<std::string> routes,
                             std::vector<std::uint16_t> statuses)
  : listener_(std::move(listener)),
    routes_(std::move(routes)),
    statuses_(std::move(statuses)),
    route_count_(static_cast<std::uint32_t>(routes_.size())),
    other_column_(static_cast<std::uint8_t>(statuses_.size())),
    columns_(statuses_.size() + 1),
    histogram_cells_(request_duration_bounds_seconds.size() + 2),
    histograms_start_((routes_.size() + 1) * columns_),
    cells_((routes_.size() + 1) * (columns_ + histogram_cells_)) {
  STEWARD_ASSERT(routes_.size() <= request_stats_routes_max);
  STEWARD_ASSERT(statuses_.size() <= request_stats_statuses_max);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    STEWARD_ASSERT(routes_[i] != "unmatched");
    STEWARD_ASSERT(std::find(routes_.begin(), routes_.begin() + i, routes_[i]) ==
                   routes_.begin() + i);
  }
  status_columns_.fill(other_column_);
  for (std::size_t i = 0; i < statuses_.size(); ++i) {
    auto const status = statuses_[i];
    STEWARD_ASSERT(status >= 100 && status < status_columns_.size());
    STEWARD_ASSERT(status_columns_[status] == other_column_);
    status_columns_[status] = static_cast<std::uint8_t>(i);
  }
  auto const bounds_ns = bounds_to_ns(request_duration_bounds_seconds);
  std::copy(bounds_ns.begin(), bounds_ns.end(), bounds_ns_.begin());
}

std::uint64_t request_stats::requests(std::uint32_t route, std::uint16_t status) const noexcept {
  auto const row = route < route_count_ ? route : route_count_;
  auto const column = status < status_columns_.size() ? status_columns_[status] : other_column_;
  return cells_.sum(row * columns_ + column);
}

histogram_snapshot request_stats::durations(std::uint32_t route) const {
  auto const row = route < route_count_ ? route : route_count_;
  return read_histogram(cells_, histograms_start_ + row * histogram_cells_, bounds_ns_.size());
}

void request_stats::render_requests(std::string& out) const {
  for (std::size_t row = 0; row <= routes_.size(); ++row) {
    for (std::size_t column = 0; column < columns_; ++column) {
      out += requests_name;
      out += '{';
      append_label(out, "listener", listener_);
      out += ',';
      append_label(out, "route", row < routes_.size() ? routes_[row] : "unmatched");
      out += ",status=\"";
      if (column < statuses_.size())
        append_unsigned(out, statuses_[column]);
      else
        out += "other";
      out += "\"} ";
      append_unsigned(out, cells_.sum(row * columns_ + column));
      out += '\n';
    }
  }
}

void request_stats::render_durations(std::string& out) const {
  std::string labels;
  for (std::size_t row = 0; row <= routes_.size(); ++row) {
    labels.clear();
    append_label(labels, "listener", listener_);
    labels += ',';
    append_label(labels, "route", row < routes_.size() ? routes_[row] : "unmatched");
    append_histogram(out, durations_name, labels, request_duration_bounds_seconds,
                     durations(static_cast<std::uint32_t>(row)));
  }
}

// --- registry --------------------------------------------------------------------------------------

struct registry::series {
  /// `a="x",b="y"` as rendered, in the caller's order; empty without labels.
  std::string labels;
  /// The labels sorted by name: two series with the same key would be the same series.
  std::string key;
  std::variant<std::unique_ptr<counter>, std::unique_ptr<gauge>, std::unique_ptr<histogram>,
               counter_callback, gauge_callback, stats_requests, stats_durations>
    source;
};

struct registry::family {
  std::string name;
  std::string help;
  metric_type type;
  /// A deque, so that adding a series never moves the others.
  std::deque<series> members;
};

registry::registry() = default;
registry::~registry() = default;

registry::family& registry::family_for(std::string_view name, std::string_view help,
                                       metric_type type) {
  STEWARD_ASSERT(is_metric_name(name));
  for (auto& existing : families_) {
    if (existing->name == name) {
      // One name, one meaning: a second registration must agree on both.
      STEWARD_ASSERT(existing->type == type);
      STEWARD_ASSERT(existing->help == help);
      return *existing;
    }
  }
  // A histogram `x` owns the names `x_bucket`, `x_sum` and `x_count`; a clash would render two
  // families under one name.
  for (auto& existing : families_) {
    for (auto const* suffix : {"_bucket", "_sum", "_count"}) {
      if (existing->type == metric_type::histogram)
        STEWARD_ASSERT(name != existing->name + suffix);
      if (type == metric_type::histogram)
        STEWARD_ASSERT(existing->name != std::string(name) + suffix);
    }
  }
  families_.push_back(
    std::make_unique<family>(family{std::string(name), std::string(help), type, {}}));
  return *families_.back();
}

registry::series& registry::add_series(family& target, label_set labels, bool histogram_labels) {
  std::string rendered;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    STEWARD_ASSERT(is_label_name(labels[i].name));
    STEWARD_ASSERT(!histogram_labels || labels[i].name != "le");
    for (std::size_t j = 0; j < i; ++j)
      STEWARD_ASSERT(labels[j].name != labels[i].name);
    if (i != 0)
      rendered += ',';
    append_label(rendered, labels[i].name, labels[i].value);
  }
  std::sort(labels.begin(), labels.end(),
            [](const label& a, const label& b) { return a.name < b.name; });
  std::string key;
  for (auto const& pair : labels) {
    append_label(key, pair.name, pair.value);
    key += ',';
  }
  for (auto const& existing : target.members)
    STEWARD_ASSERT(existing.key != key);
  target.members.push_back(series{std::move(rendered), std::move(key), {}});
  return target.members.back();
}

counter& registry::add_counter(std::string_view name, std::string_view help, label_set labels) {
  std::lock_guard lock(mutex_);
  auto& target = add_series(family_for(name, help, metric_type::counter), std::move(labels), false);
  auto& created = *target.source.emplace<std::unique_ptr<counter>>(std::make_unique<counter>());
  return created;
}

gauge& registry::add_gauge(std::string_view name, std::string_view help, label_set labels) {
  std::lock_guard lock(mutex_);
  auto& target = add_series(family_for(name, help, metric_type::gauge), std::move(labels), false);
  return *target.source.emplace<std::unique_ptr<gauge>>(std::make_unique<gauge>());
}

histogram& registry::add_histogram(std::string_view name, std::string_view help,
                                   std::span<const double> bounds_seconds, label_set labels) {
  std::lock_guard lock(mutex_);
  auto& target =
    add_series(family_for(name, help, metric_type::histogram), std::move(labels), true);
  return *target.source.emplace<std::unique_ptr<histogram>>(
    std::make_unique<histogram>(bounds_seconds));
}

void registry::add_callback_counter(std::string_view name, std::string_view help,
                                    label_set labels, std::function<std::uint64_t()> read) {
  STEWARD_ASSERT(read != nullptr);
  std::lock_guard lock(mutex_);
  auto& target = add_series(family_for(name, help, metric_type::counter), std::move(labels), false);
  target.source.emplace<counter_callback>(counter_callback{std::move(read)});
}

void registry::add_callback_gauge(std::string_view name, std::string_view help, label_set labels,
                                  std::function<std::int64_t()> read) {
  STEWARD_ASSERT(read != nullptr);
  std::lock_guard lock(mutex_);
  auto& target = add_series(family_for(name, help, metric_type::gauge), std::move(labels), false);
  target.source.emplace<gauge_callback>(gauge_callback{std::move(read)});
}

request_stats& registry::add_request_stats(std::string_view listener,
                                           std::vector<std::string> routes,
                                           std::vector<std::uint16_t> statuses) {
  std::lock_guard lock(mutex_);
  auto stats =
    std::make_unique<request_stats>(std::string(listener), std::move(routes), std::move(statuses));
  // Keyed by listener alone, so that a second table for the same listener is refused.
  auto& requests = add_series(family_for(requests_name, requests_help, metric_type::counter),
                              {{"listener", std::string(listener)}}, false);
  requests.source.emplace<stats_requests>(stats_requests{stats.get()});
  auto& durations = add_series(family_for(durations_name, durations_help, metric_type::histogram),
                               {{"listener", std::string(listener)}}, true);
  durations.source.emplace<stats_durations>(stats_durations{stats.get()});
  request_stats_.push_back(std::move(stats));
  return *request_stats_.back();
}

std::string registry::render() const {
  std::string out;
  render_to(out);
  return out;
}

void registry::render_to(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (auto const& family : families_) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    append_help(out, family->help);
    out += "\n# TYPE ";
    out += family->name;
    switch (family->type) {
      case metric_type::counter:
        out += " counter\n";
        break;
      case metric_type::gauge:
        out += " gauge\n";
        break;
      case metric_type::histogram:
        out += " histogram\n";
        break;
    }
    for (auto const& member : family->members) {
      auto const& name = family->name;
      auto const& labels = member.labels;
      std::visit(
        [&](auto const& source) {
          using source_type = std::decay_t<decltype(source)>;
          if constexpr (std::is_same_v<source_type, std::unique_ptr<counter>>) {
            append_series_start(out, name, "", labels);
            append_unsigned(out, source->value());
            out += '\n';
          } else if constexpr (std::is_same_v<source_type, std::unique_ptr<gauge>>) {
            append_series_start(out, name, "", labels);
            append_signed(out, source->value());
            out += '\n';
          } else if constexpr (std::is_same_v<source_type, std::unique_ptr<histogram>>) {
            append_histogram(out, name, labels, source->bounds_seconds(), source->snapshot());
          } else if constexpr (std::is_same_v<source_type, counter_callback>) {
            append_series_start(out, name, "", labels);
            append_unsigned(out, source.read());
            out += '\n';
          } else if constexpr (std::is_same_v<source_type, gauge_callback>) {
            append_series_start(out, name, "", labels);
            append_signed(out, source.read());
            out += '\n';
          } else if constexpr (std::is_same_v<source_type, stats_requests>) {
            source.stats->render_requests(out);
          } else {
            source.stats->render_durations(out);
          }
        },
        member.source);
    }
  }
}

} // namespace steward::core::metrics
