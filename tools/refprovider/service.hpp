#pragma once

// The reference provider's HTTP surface (DESIGN 5), as a route table for net::server:
//
//     GET  /catalog                     the catalog, strong ETag, If-None-Match -> 304
//     GET  /terms                       the terms of service the catalog points at (plain text)
//     GET  /domains/availability?name=  whether the registrar can sell a domain
//     POST /accounts                    {"attestation": JWS} -> created / oauth_required
//     POST /resources                   bearer account token, Idempotency-Key; creates a resource
//                                       and charges its fixed price to the payment token through
//                                       steward's POST /v1/provider/charges, signed (DESIGN 4.3);
//                                       a `compute:metered` resource then starts its meter
//                                       (meter.hpp)
//     GET  /resources/{id}              bearer; the resource without credentials: status, reason
//                                       when suspended, and for a metered one `ticks` and
//                                       `charged_total`
//     POST /resources/{id}/rotate       bearer, Idempotency-Key; 200 with the resource and a new
//                                       `credentials.api_key`, the old one no longer valid; a
//                                       retry with the key replays the same new credential;
//                                       a removed resource is 404 (reason `resource_removed`)
//     DELETE /resources/{id}            bearer, Idempotency-Key; 200 with the resource, `status:
//                                       "removed"`; again (any key) the same; stops its meter
//     GET  /oauth/authorize             OAuth consent for an existing account (oauth.hpp): the
//                                       consent page, or with auto consent a 302 to redirect_uri
//     POST /oauth/authorize             the consent form's decision -> 302 with a code or
//                                       error=access_denied
//     POST /oauth/token                 code + PKCE verifier -> the account's token
//                                       (RFC 6749 4.1.3)
//
// The `authorize_url` of an `oauth_required` answer carries what the provider knows —
// response_type, client_id, the registered redirect_uri and login_hint (the attested email) — and
// not `state`, `code_challenge` and `code_challenge_method=S256`: those belong to the client, which
// appends them (`&state=...&code_challenge=...&code_challenge_method=S256`), since only it knows
// the verifier and checks the state on its callback.
//
// Another account's resource is 404 `not_found`, exactly as a resource that does not exist.
//
// Faults (fault.hpp) wrap every route: the configured plan and, with `faults_from_header`, the
// `Refprovider-Fault` header decide per request; delays are served by the timer thread
// (timer_thread.hpp) through a delayed_responder, never by blocking an io thread. The meter's ticks
// run on the same timer thread and send their charges through the HTTP client.
//
// The logic lives in the types it wires (catalog.hpp, account_store.hpp,
// attestation_verifier.hpp, resource_order.hpp, resource_store.hpp); the handlers only decode,
// call them and encode.
//
// Lifetime: the service must outlive the server whose routes it made, and the HTTP client must be
// stopped before the service is destroyed (pending JWKS fetches answer through it). Shut down in
// this order: `server.drain()`, `service.stop()` (delayed answers go out at once, meters stop),
// `client.stop()`, `server.wait()`.

#include "core/ids.hpp"
#include "net/handler.hpp"
#include "net/http_client.hpp"
#include "tools/refprovider/account_store.hpp"
#include "tools/refprovider/attestation_verifier.hpp"
#include "tools/refprovider/delayed_responder.hpp"
#include "tools/refprovider/fault.hpp"
#include "tools/refprovider/oauth.hpp"
#include "tools/refprovider/resource_order.hpp"
#include "tools/refprovider/resource_store.hpp"
#include "tools/refprovider/timer_thread.hpp"

#include <atomic>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace steward::refprovider {

struct service_config {
  std::string slug;          ///< audience of attestations
  std::string steward_url;   ///< issuer of attestations; JWKS base
  std::string terms_version;
  std::string secret;        ///< the HMAC secret steward shares with this provider
  std::vector<std::string> existing_accounts; ///< lower-cased emails
  std::function<std::int64_t()> clock;        ///< Unix seconds; the system clock when empty
  std::string oauth_client_id = "steward";    ///< the one OAuth client
  /// The client's registered redirect URI; `steward_url + "/oauth/callback"` when empty.
  std::string oauth_redirect_uri;
  bool oauth_auto_consent = false; ///< GET /oauth/authorize consents without a page (tests)
  std::uint32_t meter_interval_ms = 0; ///< the meter's period; 0: off
  std::int64_t meter_units = 1;        ///< units charged per tick
  std::vector<fault> faults;           ///< `--fault`
  bool faults_from_header = false;     ///< honour `Refprovider-Fault`
};

class service {
public:
  /// `client` and `random` must outlive the service.
  service(service_config config, net::http_client& client, core::random_source& random);
  ~service();

  /// The routes above, whose handlers refer to this service.
  net::route_table routes();

  /// Where this provider is reached (`http://HOST:PORT`), known once the server is bound; the
  /// catalog's terms URL and OAuth's authorize URL are built from it. Call before announcing the
  /// address: requests before it see an empty base URL.
  void set_public_url(std::string url);

  const attestation_verifier& verifier() const noexcept { return verifier_; }
  const account_store& accounts() const noexcept { return accounts_; }
  const resource_store& resources() const noexcept { return resources_; }
  const authorization_codes& codes() const noexcept { return codes_; }
  const timer_thread& timers() const noexcept { return timers_; }
  /// Meters whose next tick is waiting or being charged; 0 means no meter can charge any more.
  std::int64_t meters_running() const noexcept { return meters_running_.load(); }

  /// Sends every delayed answer now and stops the meters (their next tick is not sent).
  /// Idempotent; see the shutdown order above.
  void stop();

private:
  struct published {
    std::string public_url;
    std::string catalog;
    std::string etag;
  };

  using reply_to = const delayed_responder&;
  using routed = std::function<void(const net::http_request&, const net::route_params&,
                                    reply_to)>;
  /// `handler` behind the faults that apply to requests of class `what`.
  net::handler with_faults(request_class what, routed handler);

  std::shared_ptr<const published> current() const;
  void get_catalog(const net::http_request& request, reply_to reply);
  void get_availability(const net::http_request& request, reply_to reply);
  void post_accounts(const net::http_request& request, reply_to reply);
  net::http_response answer_accounts(const attestation_verdict& verdict);
  void post_resources(const net::http_request& request, reply_to reply);
  void get_resource(const net::http_request& request, std::string_view id, reply_to reply);
  void rotate_resource(const net::http_request& request, std::string_view id, reply_to reply);
  void delete_resource(const net::http_request& request, std::string_view id, reply_to reply);
  /// The account the request's bearer token names, or the 401 to answer in `refusal`.
  std::optional<account> authenticate(const net::http_request& request,
                                      net::http_response& refusal) const;
  /// steward's `POST /v1/provider/charges` with `body` under `key`, signed (DESIGN 4.3).
  net::client_request charge_request(const std::string& key, std::string body) const;
  /// The meter: tick `tick` of `resource_id` is sent after one interval.
  void schedule_tick(std::string resource_id, std::uint64_t tick);
  void send_tick(const std::string& resource_id, std::uint64_t tick);
  /// A meter's chain of ticks ended (refused, removed, suspended, stopped).
  void meter_ended();
  net::http_response authorize(std::string_view params, bool consent_form);
  net::http_response token(const net::http_request& request);
  std::int64_t now() const;

  /// The services of the catalog with their price and compiled configuration schema.
  std::vector<offering> offerings_ = catalog_offerings();

  service_config config_;
  net::http_client& client_;
  core::random_source& random_;
  account_store accounts_;
  attestation_verifier verifier_;
  resource_store resources_;
  oauth_client oauth_client_;
  authorization_codes codes_;
  mutable std::mutex published_mutex_;
  std::shared_ptr<const published> published_;
  fault_plan faults_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::int64_t> meters_running_{0};
  /// Last: destroyed (and so stopped) first, before the members its tasks use.
  timer_thread timers_;
};

} // namespace steward::refprovider
