// steward-refprovider: the reference provider that tests, benchmarks and the demo run against
// (DESIGN 5 and 8). This file only wires the parts together — options, the provider secret, the
// outbound client to steward, the service's routes on a net::server — and owns the process's
// lifetime: start, print `listening HOST:PORT`, wait for SIGTERM/SIGINT, drain, exit 0.

#include "net/http_client.hpp"
#include "net/server.hpp"
#include "tools/refprovider/limits.hpp"
#include "tools/refprovider/options.hpp"
#include "tools/refprovider/service.hpp"

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <string_view>
#include <vector>

using namespace steward;

namespace {

constexpr int exit_bad_option = 2;
constexpr int exit_start_failed = 1;
/// Connections to steward: a resource's charge runs while steward waits for the resource, so the
/// pool must not be narrower than steward's pool to this provider.
constexpr std::uint32_t steward_connections = 128;

net::server_config listener_config(const refprovider::options& opts) {
  net::server_config config;
  config.name = "refprovider";
  config.host = opts.host;
  config.port = opts.port;
  config.io_threads = 1;
  config.backend = net::io_backend::epoll;
  config.connections_max = refprovider::limits::connections_max;
  config.drain_timeout_ms = refprovider::limits::drain_timeout_ms;
  config.connection.parse.body_bytes_max = refprovider::limits::body_bytes_max;
  config.connection.pipeline_depth_max = core::limits::pipeline_depth_default;
  config.connection.header_read_timeout_ms = core::limits::header_read_timeout_ms_default;
  config.connection.body_read_timeout_ms = core::limits::body_read_timeout_ms_default;
  config.connection.idle_timeout_ms = core::limits::idle_timeout_ms_default;
  config.connection.actor_timeout_ms = refprovider::limits::handler_timeout_ms;
  return config;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  refprovider::options opts;
  if (auto error = refprovider::parse_options(args, opts)) {
    std::cerr << "steward-refprovider: " << refprovider::to_string(*error) << "\n";
    return exit_bad_option;
  }
  std::string secret;
  if (auto error = refprovider::load_secret(opts.secret_file, secret)) {
    std::cerr << "steward-refprovider: " << refprovider::to_string(*error) << "\n";
    return exit_bad_option;
  }

  // Signals are taken by the main thread alone: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  net::client_options client_options;
  client_options.metrics_name = "refprovider";
  client_options.connections_per_origin_max = steward_connections;
  net::http_client client(client_options);
  core::openssl_random random;

  refprovider::service_config service_config;
  service_config.slug = opts.slug;
  service_config.steward_url = opts.steward_url;
  service_config.terms_version = opts.terms_version;
  service_config.secret = secret;
  service_config.existing_accounts = opts.existing_accounts;
  service_config.oauth_client_id = opts.oauth_client_id;
  service_config.oauth_redirect_uri = opts.oauth_redirect_uri;
  service_config.oauth_auto_consent = opts.oauth_auto_consent;
  service_config.meter_interval_ms = opts.meter_interval_ms;
  service_config.meter_units = opts.meter_units;
  service_config.faults = opts.faults;
  service_config.faults_from_header = opts.faults_from_header;
  refprovider::service provider(std::move(service_config), client, random);

  net::no_listener_stats stats;
  net::server server(listener_config(opts), provider.routes(), stats);
  if (auto problem = server.start()) {
    std::cerr << "steward-refprovider: --listen: " << *problem << "\n";
    return exit_start_failed;
  }
  provider.set_public_url("http://" + server.bound_address());

  // The first line is the contract scripts rely on (DESIGN 8).
  std::cout << "listening " << server.bound_address() << "\n";
  std::cout << "provider " << opts.slug << ", steward " << opts.steward_url << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cout << "steward-refprovider: " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", draining" << std::endl;
  server.drain();
  // Delayed answers (injected faults) go out now and the meters stop, before the client stops
  // under them.
  provider.stop();
  // Outstanding JWKS fetches complete now (with `stopped`), answering their requests while the
  // server's loops still exist; then the loops finish draining.
  client.stop();
  server.wait();
  std::cout << "steward-refprovider: stopped" << std::endl;
  return 0;
}
