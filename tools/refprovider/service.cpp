#include "tools/refprovider/service.hpp"

#include "core/attestation.hpp"
#include "core/hmac_signature.hpp"
#include "core/idempotency.hpp"
#include "core/secret_token.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "net/problem_response.hpp"
#include "tools/refprovider/catalog.hpp"
#include "tools/refprovider/limits.hpp"
#include "tools/refprovider/meter.hpp"
#include "tools/refprovider/options.hpp"
#include "tools/refprovider/query_string.hpp"
#include "tools/refprovider/random_text.hpp"

#include <array>
#include <chrono>

namespace steward::refprovider {

namespace {

using core::api_error;

net::http_response json_response(std::uint16_t status, std::string body) {
  net::http_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

net::http_response refused(api_error code, std::string_view detail, std::string_view reason) {
  return net::problem_response(core::problem(code, detail).member("reason", reason));
}

net::http_response try_again(api_error code, std::string_view detail, std::string_view reason) {
  return net::problem_response(
    core::problem(code, detail).member("reason", reason).retry_after(1));
}

/// An OAuth error as JSON (RFC 6749 5.2), never cached.
net::http_response oauth_refusal(std::uint16_t status, const oauth_error& error) {
  net::http_response response;
  response.status = status;
  core::json_writer w(response.body);
  w.begin_object()
    .member("error", error.error)
    .member("error_description", error.description)
    .end_object();
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

/// A 302 to `location`.
net::http_response redirect_to(std::string location) {
  net::http_response response;
  response.status = 302;
  response.content_type = "text/plain; charset=utf-8";
  response.headers.emplace_back("Location", std::move(location));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

/// A resource as this provider shows it (Stripe style: `id`, `object`, then its members). The
/// credential only when it is handed over: at creation and rotation.
std::string resource_body(const resource& r, bool with_credentials) {
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("id", r.id)
    .member("object", "resource")
    .member("service", r.service)
    .member("status", to_string(r.status));
  if (!r.reason.empty())
    w.member("reason", r.reason);
  if (!r.name.empty())
    w.member("name", r.name);
  if (!r.domain.empty())
    w.member("domain", r.domain);
  if (with_credentials)
    w.key("credentials").begin_object().member("api_key", r.api_key).end_object();
  w.key("price").begin_object().member("amount", r.price).member("currency", catalog_currency);
  if (!r.interval.empty())
    w.member("interval", r.interval);
  w.end_object();
  if (!r.charge_id.empty())
    w.member("charge", r.charge_id);
  if (r.metered) {
    w.member("ticks", static_cast<std::int64_t>(r.ticks))
      .member("charged_total", r.charged_total);
  }
  w.end_object();
  return out;
}

/// The answer of an injected `status` fault (fault.hpp).
net::http_response injected_failure(std::uint16_t status) {
  auto const code = status == 502   ? api_error::provider_error
                    : status == 503 ? api_error::provider_unavailable
                                    : api_error::internal;
  core::problem problem(code, "an injected fault");
  problem.member("reason", "injected_fault");
  if (status == 503)
    problem.retry_after(1);
  return net::problem_response(std::move(problem));
}

net::http_response replayed(std::uint16_t status, std::string body) {
  auto replay = json_response(status, std::move(body));
  if (status >= 400)
    replay.content_type = core::problem_content_type;
  replay.headers.emplace_back("Idempotent-Replayed", "true");
  return replay;
}

constexpr std::string_view charges_path = "/v1/provider/charges";

constexpr std::string_view fault_header = "Refprovider-Fault";

constexpr std::string_view terms_text =
  "Reference provider terms of service.\n"
  "This provider exists to test steward. Domains are non-refundable once registered.\n";

} // namespace

service::service(service_config config, net::http_client& client, core::random_source& random)
    : config_(std::move(config)), client_(client), random_(random),
      accounts_(config_.existing_accounts, limits::accounts_max, random),
      verifier_(
        attestation_verifier_config{
          core::jwks_uri(config_.steward_url), config_.steward_url, config_.slug,
          limits::replay_entries_max, limits::jwks_waiters_max, limits::jwks_fetch_timeout_ms,
          config_.clock},
        client),
      resources_(limits::resource_records_max, limits::resources_max),
      oauth_client_{config_.oauth_client_id, config_.oauth_redirect_uri.empty()
                                               ? config_.steward_url + "/oauth/callback"
                                               : config_.oauth_redirect_uri},
      codes_(limits::oauth_codes_max, limits::oauth_code_lifetime_s, random),
      faults_(config_.faults), timers_(limits::timers_max) {
  set_public_url({});
}

service::~service() {
  stop();
}

void service::stop() {
  stopped_.store(true);
  timers_.stop();
}

std::int64_t service::now() const {
  if (config_.clock)
    return config_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void service::set_public_url(std::string url) {
  auto next = std::make_shared<published>();
  next->public_url = std::move(url);
  next->catalog = build_catalog({next->public_url + "/terms", config_.terms_version});
  next->etag = strong_etag(next->catalog);
  std::lock_guard<std::mutex> guard(published_mutex_);
  published_ = std::move(next);
}

std::shared_ptr<const service::published> service::current() const {
  std::lock_guard<std::mutex> guard(published_mutex_);
  return published_;
}

net::handler service::with_faults(request_class what, routed handler) {
  return [this, what, handler = std::move(handler)](const net::http_request& request,
                                                    const net::route_params& params,
                                                    net::responder reply) {
    auto effect = faults_.empty() ? fault_effect{} : faults_.next(what);
    if (config_.faults_from_header) {
      auto const asked = request.header(fault_header);
      if (!asked.empty()) {
        fault extra;
        std::optional<std::string> problem;
        if (asked.size() > limits::fault_header_bytes_max)
          problem = "too long";
        else
          problem = parse_fault(asked, false, extra);
        if (problem) {
          reply.respond(net::problem_response(
            core::problem(api_error::invalid_field, std::string(fault_header) + ": " + *problem)
              .member("field", fault_header)));
          return;
        }
        apply(extra, what, effect);
      }
    }
    delayed_responder delayed(reply, &timers_, effect.latency_ms, effect.after_charge_ms,
                              effect.drop_after_work);
    // A status fault answers before any work, as a provider failing in front of its logic does.
    if (effect.status != 0) {
      delayed.respond(injected_failure(effect.status));
      return;
    }
    handler(request, params, delayed);
  };
}

net::route_table service::routes() {
  using kind = request_class;
  net::route_table table;
  table.add(net::http_method::get, "/catalog",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params&,
                                            reply_to reply) { get_catalog(request, reply); }));
  table.add(net::http_method::get, "/terms",
            with_faults(kind::other,
                        [](const net::http_request&, const net::route_params&, reply_to reply) {
                          net::http_response response;
                          response.content_type = "text/plain; charset=utf-8";
                          response.body = std::string(terms_text);
                          reply.respond(std::move(response));
                        }));
  table.add(net::http_method::get, "/domains/availability",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params&, reply_to reply) {
              get_availability(request, reply);
            }));
  table.add(net::http_method::post, "/accounts",
            with_faults(kind::provisioning, [this](const net::http_request& request,
                                                   const net::route_params&, reply_to reply) {
              post_accounts(request, reply);
            }));
  table.add(net::http_method::post, "/resources",
            with_faults(kind::create, [this](const net::http_request& request,
                                             const net::route_params&, reply_to reply) {
              post_resources(request, reply);
            }));
  table.add(net::http_method::get, "/resources/{id}",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params& params, reply_to reply) {
              get_resource(request, params.get("id"), reply);
            }));
  table.add(net::http_method::post, "/resources/{id}/rotate",
            with_faults(kind::provisioning, [this](const net::http_request& request,
                                                   const net::route_params& params,
                                                   reply_to reply) {
              rotate_resource(request, params.get("id"), reply);
            }));
  table.add(net::http_method::delete_, "/resources/{id}",
            with_faults(kind::provisioning, [this](const net::http_request& request,
                                                   const net::route_params& params,
                                                   reply_to reply) {
              delete_resource(request, params.get("id"), reply);
            }));
  table.add(net::http_method::get, "/oauth/authorize",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params&, reply_to reply) {
              reply.respond(authorize(request.query, false));
            }));
  table.add(net::http_method::post, "/oauth/authorize",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params&, reply_to reply) {
              if (!is_form_content_type(request.header("Content-Type"))) {
                reply.respond(oauth_refusal(400, {"invalid_request",
                                                  "the consent form is sent as "
                                                  "application/x-www-form-urlencoded"}));
                return;
              }
              reply.respond(authorize(request.body, true));
            }));
  table.add(net::http_method::post, "/oauth/token",
            with_faults(kind::other, [this](const net::http_request& request,
                                            const net::route_params&,
                                            reply_to reply) { reply.respond(token(request)); }));
  return table;
}

void service::get_catalog(const net::http_request& request, reply_to reply) {
  auto doc = current();
  net::http_response response;
  response.headers.emplace_back("ETag", doc->etag);
  // Caches may keep it but must ask again each time; the answer is a 304 when nothing changed.
  response.headers.emplace_back("Cache-Control", "no-cache");
  auto const condition = request.header("If-None-Match");
  if (!condition.empty() && if_none_match(condition, doc->etag))
    response.status = 304;
  else
    response.body = doc->catalog;
  reply.respond(std::move(response));
}

void service::get_availability(const net::http_request& request, reply_to reply) {
  bool present = false;
  auto name = query_parameter(request.query, "name", &present);
  if (!present) {
    reply.respond(net::problem_response(
      core::problem(api_error::invalid_field, "the query parameter name is required")
        .member("field", "name")));
    return;
  }
  if (!name || !is_sellable_domain(*name)) {
    std::string detail = "name must be a lower-case domain under one of:";
    for (auto tld : domain_tlds)
      detail += std::string(" .") + std::string(tld);
    reply.respond(net::problem_response(
      core::problem(api_error::invalid_field, detail).member("field", "name")));
    return;
  }
  reply.respond(
    json_response(200, domain_availability(*name, resources_.domain_claimed(*name))));
}

void service::post_accounts(const net::http_request& request, reply_to reply) {
  std::string token;
  auto error = core::decode(request.body, core::padding_readable, [&](core::object_reader& o) {
    o.required("attestation", token, core::limits::jws_bytes_max);
  });
  if (error) {
    reply.respond(net::problem_response(core::problem(error)));
    return;
  }
  verifier_.verify(std::move(token), [this, reply = delayed_responder(reply)](
                                       attestation_verdict verdict) {
    reply.respond(answer_accounts(verdict));
  });
}

net::http_response service::answer_accounts(const attestation_verdict& verdict) {
  using kind = attestation_verdict::kind;
  switch (verdict.what) {
  case kind::rejected:
    return refused(api_error::unauthorized, core::describe(verdict.error),
                   reason_code(verdict.error));
  case kind::replayed:
    return refused(api_error::unauthorized, "this attestation was already used",
                   "attestation_replayed");
  case kind::replay_full:
  case kind::busy:
    return try_again(api_error::overloaded, "too many attestations at once; retry shortly",
                     "overloaded");
  case kind::keys_unavailable:
    return try_again(api_error::provider_unavailable,
                     "steward's signing keys could not be fetched; retry shortly",
                     "jwks_unavailable");
  case kind::accepted:
    break;
  }
  auto const& claims = verdict.claims;
  if (!claims.email_verified)
    return refused(api_error::forbidden, "the attested email is not verified",
                   "email_not_verified");
  auto opened = accounts_.open(claims.email);
  std::string body;
  core::json_writer w(body);
  switch (opened.what) {
  case account_store::outcome::full:
    return try_again(api_error::overloaded, "the provider takes no new accounts now",
                     "accounts_full");
  case account_store::outcome::no_randomness:
    return net::problem_response(api_error::internal, "no randomness for a new account");
  case account_store::outcome::oauth_required: {
    // See the file comment of service.hpp: the client appends its state and PKCE challenge.
    // The existing account is named, so that steward can check that the account a human later
    // consents for is this email's (DESIGN 5 leaves it out; steward accepts answers without it).
    auto existing = accounts_.existing_id(claims.email);
    if (!existing)
      return net::problem_response(api_error::internal, "no randomness for the account");
    auto doc = current();
    std::string url = doc->public_url + "/oauth/authorize?response_type=code&client_id=" +
                      percent_encode(oauth_client_.client_id) +
                      "&redirect_uri=" + percent_encode(oauth_client_.redirect_uri) +
                      "&login_hint=" + percent_encode(lowercase(claims.email));
    w.begin_object()
      .member("outcome", "oauth_required")
      .member("account_id", *existing)
      .member("authorize_url", url)
      .end_object();
    return json_response(200, std::move(body));
  }
  case account_store::outcome::created:
  case account_store::outcome::existing:
    break;
  }
  w.begin_object()
    .member("outcome", "created")
    .member("account_id", opened.opened.id)
    .key("credentials")
    .begin_object()
    .member("account_token", opened.opened.token)
    .end_object()
    .end_object();
  return json_response(opened.what == account_store::outcome::created ? 201 : 200,
                       std::move(body));
}

net::http_response service::authorize(std::string_view params, bool consent_form) {
  // Bad requests are answered here, never redirected: a redirect is only made to the registered
  // URI, and only once the request is known to be well-formed (RFC 6749 4.1.2.1 allows this).
  authorization_request request;
  if (auto problem = read_authorization_request(params, oauth_client_, request))
    return oauth_refusal(400, *problem);
  if (!accounts_.is_existing(request.login_hint))
    return oauth_refusal(400, {"invalid_request", "login_hint names no account at this provider"});
  std::string state = "state=" + percent_encode(request.state);
  if (consent_form) {
    auto decision = read_parameter(params, "decision");
    if (decision.what != oauth_parameter::state::present ||
        (decision.value != "allow" && decision.value != "deny"))
      return oauth_refusal(400, {"invalid_request", "decision must be allow or deny"});
    if (decision.value == "deny")
      return redirect_to(with_query(request.redirect_uri, "error=access_denied&" + state));
  } else if (!config_.oauth_auto_consent) {
    net::http_response page;
    page.content_type = "text/html; charset=utf-8";
    page.body = consent_page(request);
    page.headers.emplace_back("Cache-Control", "no-store");
    // The page must not be framed by another site (clickjacking the Allow button).
    page.headers.emplace_back("X-Frame-Options", "DENY");
    page.headers.emplace_back("Content-Security-Policy", "frame-ancestors 'none'");
    return page;
  }
  auto code = codes_.issue({request.login_hint, request.client_id, request.redirect_uri,
                            request.code_challenge},
                           now());
  if (!code)
    return oauth_refusal(503, {"temporarily_unavailable", "too many pending authorizations"});
  return redirect_to(
    with_query(request.redirect_uri, "code=" + percent_encode(*code) + "&" + state));
}

net::http_response service::token(const net::http_request& request) {
  if (!is_form_content_type(request.header("Content-Type")))
    return oauth_refusal(400, {"invalid_request",
                               "the body must be application/x-www-form-urlencoded"});
  auto const params = request.body;
  auto grant_type = read_parameter(params, "grant_type");
  auto client_id = read_parameter(params, "client_id");
  auto code = read_parameter(params, "code");
  auto redirect_uri = read_parameter(params, "redirect_uri");
  auto verifier = read_parameter(params, "code_verifier");
  for (auto [name, p] : {std::pair{"grant_type", &grant_type}, std::pair{"client_id", &client_id},
                         std::pair{"code", &code}, std::pair{"redirect_uri", &redirect_uri},
                         std::pair{"code_verifier", &verifier}}) {
    if (p->what == oauth_parameter::state::malformed)
      return oauth_refusal(400,
                           {"invalid_request", std::string(name) + " is malformed or repeated"});
    if (p->what == oauth_parameter::state::absent || p->value.empty())
      return oauth_refusal(400, {"invalid_request", std::string(name) + " is required"});
  }
  if (grant_type.value != "authorization_code")
    return oauth_refusal(400, {"unsupported_grant_type", "grant_type must be authorization_code"});
  if (client_id.value != oauth_client_.client_id)
    return oauth_refusal(400, {"invalid_client", "unknown client_id"});
  if (!is_code_verifier(verifier.value))
    return oauth_refusal(
      400, {"invalid_request", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 -._~"});
  auto redeemed = codes_.redeem(code.value, client_id.value, redirect_uri.value, verifier.value,
                                now());
  if (redeemed.error != authorization_codes::redeem_error::none)
    return oauth_refusal(400, {"invalid_grant", std::string(to_string(redeemed.error))});
  auto linked = accounts_.link(redeemed.email);
  if (!linked)
    return oauth_refusal(500, {"server_error", "the account could not be linked"});
  net::http_response response;
  core::json_writer w(response.body);
  w.begin_object()
    .member("access_token", linked->token)
    .member("account_id", linked->id)
    .member("expires_in", limits::oauth_access_token_expires_in_s)
    .member("token_type", "Bearer")
    .end_object();
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Pragma", "no-cache");
  return response;
}

namespace {

/// The `id` of a charge answered by steward: its body starts with it (DESIGN 4: an object answers
/// with `id` first). Empty when it does not look like a charge id.
std::string charge_id_of(std::string_view body) {
  constexpr std::string_view head = R"({"id":")";
  if (body.substr(0, head.size()) != head)
    return {};
  body.remove_prefix(head.size());
  auto id = body.substr(0, body.find('"'));
  return core::is_valid(core::id_kind::charge, id) ? std::string(id) : std::string();
}

} // namespace

std::optional<account> service::authenticate(const net::http_request& request,
                                             net::http_response& refusal) const {
  auto bearer = core::parse_bearer(request.header("Authorization"));
  if (!bearer) {
    refusal = refused(api_error::unauthorized, "an account token is required",
                      "account_token_missing");
    return std::nullopt;
  }
  auto account = accounts_.find_by_token(bearer.token);
  if (!account)
    refusal = refused(api_error::unauthorized, "unknown account token", "account_token_unknown");
  return account;
}

net::client_request service::charge_request(const std::string& key, std::string body) const {
  net::client_request call;
  call.method = net::http_method::post;
  call.url = config_.steward_url + std::string(charges_path);
  call.idempotency_key = key;
  call.timeout_ms = limits::charge_timeout_ms;
  call.provider = "steward";
  call.headers.emplace_back("Content-Type", "application/json");
  call.headers.emplace_back("Steward-Provider", config_.slug);
  call.headers.emplace_back(std::string(core::signature_header_name),
                            core::sign(config_.secret, now(),
                                       core::signed_request{"POST", charges_path, key, body}));
  call.body = std::move(body);
  return call;
}

void service::post_resources(const net::http_request& request, reply_to reply) {
  net::http_response refusal;
  auto account = authenticate(request, refusal);
  if (!account) {
    reply.respond(std::move(refusal));
    return;
  }
  std::string key(request.header("Idempotency-Key"));
  if (auto key_error = core::validate_idempotency_key(key);
      key_error != core::idempotency_key_error::none) {
    reply.respond(net::problem_response(
      core::to_api_error(key_error),
      "Idempotency-Key must be 1 to 255 printable characters; it is required here"));
    return;
  }

  resource_order order;
  if (auto problem = read_resource_order(request.body, offerings_, now(), order)) {
    reply.respond(net::problem_response(std::move(*problem)));
    return;
  }
  const offering* offer = order.offer;
  std::string const& domain = order.domain;

  auto fingerprint = core::fingerprint_body(request.body);
  auto new_id = random_text<account_id_random_bytes>(resource_id_prefix, random_);
  if (!fingerprint || !new_id) {
    reply.respond(net::problem_response(api_error::internal, "cannot start the request"));
    return;
  }
  auto begun = resources_.begin(account->id, key, fingerprint.value, std::move(*new_id));
  switch (begun.what) {
  case resource_store::start::replay:
    reply.respond(replayed(begun.status, std::move(begun.body)));
    return;
  case resource_store::start::conflict:
    reply.respond(net::problem_response(
      api_error::idempotency_conflict, "this Idempotency-Key was used with another request body"));
    return;
  case resource_store::start::in_flight:
    reply.respond(net::problem_response(
      core::problem(api_error::idempotency_in_flight, "the original request is still running")
        .retry_after(core::idempotency_retry_after_seconds)));
    return;
  case resource_store::start::full:
    reply.respond(try_again(api_error::overloaded, "too many requests remembered; retry shortly",
                            "overloaded"));
    return;
  case resource_store::start::execute:
    break;
  }

  // From here every answer ends the attempt: stored (2xx, 4xx) or dropped (5xx). The answer is
  // stored before it is sent, so an `after-charge-timeout` fault delays only the sending.
  auto const account_id = account->id;
  auto const resource_id = begun.resource_id;
  auto finish = [this, account_id, key, reply = delayed_responder(reply)](
                  net::http_response response) {
    resources_.finish(account_id, key, response.status, response.body);
    reply.respond_after_work(std::move(response));
  };
  // Checked before anything is bought (a 503, not stored). Requests in flight may pass it
  // together, so the store holds at most `resources_max` plus the requests the listener holds.
  if (resources_.full()) {
    finish(try_again(api_error::overloaded, "the provider takes no new resources now",
                     "resources_full"));
    return;
  }
  if (!domain.empty() &&
      (is_domain_taken(domain) || !resources_.claim_domain(domain, resource_id))) {
    finish(refused(api_error::config_invalid, "the domain is already registered",
                   "domain_unavailable"));
    return;
  }
  auto credential = random_text<account_token_random_bytes>("rpk_", random_);
  if (!credential) {
    finish(net::problem_response(api_error::internal, "no randomness for credentials"));
    return;
  }
  resource made;
  made.id = resource_id;
  made.account_id = account_id;
  made.service = std::string(offer->id);
  made.name = order.name;
  made.domain = domain;
  made.api_key = std::move(*credential);
  made.price = offer->price;
  made.interval = std::string(offer->interval);
  made.metered = offer->unit_price > 0;
  if (order.payment_token)
    made.payment_token = order.payment_token->id;
  // Kept, then answered; a metered resource starts its meter once it exists.
  auto created = [this](resource r) {
    auto body = resource_body(r, true);
    auto const id = r.id;
    auto const metered = r.metered;
    resources_.add(std::move(r));
    if (metered && config_.meter_interval_ms != 0) {
      meters_running_.fetch_add(1);
      schedule_tick(id, 1);
    }
    return json_response(201, std::move(body));
  };
  if (offer->price == 0) {
    finish(created(std::move(made)));
    return;
  }

  // Charge the fixed price through steward (DESIGN 4.3), keyed by the resource id so that every
  // attempt of this resource — client retries and retries of the whole request after a 5xx — is
  // one charge at most.
  std::string charge;
  {
    core::json_writer w(charge);
    w.begin_object()
      .member("payment_token", order.payment_token->id)
      .member("amount", offer->price)
      .member("currency", catalog_currency)
      .member("description", std::string(offer->id) + (domain.empty() ? "" : " " + domain))
      .end_object();
  }
  client_.request(charge_request(resource_id, std::move(charge)),
                  [this, finish, created, made = std::move(made), domain,
                   resource_id](net::client_result result) mutable {
    auto* response = std::get_if<net::client_response>(&result);
    if (response && response->status == 201) {
      made.charge_id = charge_id_of(response->body);
      finish(created(std::move(made)));
      return;
    }
    if (response && (response->status == 400 || response->status == 402 ||
                     response->status == 403 || response->status == 404 ||
                     response->status == 422)) {
      // steward declined the charge: that is this request's outcome, told as steward told it.
      if (!domain.empty())
        resources_.release_domain(domain, resource_id);
      net::http_response declined = json_response(response->status, response->body);
      declined.content_type = core::problem_content_type;
      finish(std::move(declined));
      return;
    }
    // Anything else (steward unreachable, a 5xx, refusing our signature) leaves the charge's fate
    // open or is our fault: 502, not stored, so a retry with the same key tries the same charge.
    std::string detail = response ? "steward answered the charge with " +
                                      std::to_string(response->status)
                                  : "steward could not be reached: " +
                                      std::string(net::to_string(std::get<net::client_error>(result)));
    finish(net::problem_response(api_error::provider_error, detail));
  });
}

void service::get_resource(const net::http_request& request, std::string_view id,
                           reply_to reply) {
  net::http_response refusal;
  auto account = authenticate(request, refusal);
  if (!account) {
    reply.respond(std::move(refusal));
    return;
  }
  auto found = resources_.find(account->id, id);
  if (!found) {
    reply.respond(net::problem_response(api_error::not_found, "no such resource"));
    return;
  }
  reply.respond(json_response(200, resource_body(*found, false)));
}

namespace {

/// The start of an idempotent request on a resource (rotation, deletion): the key and the
/// fingerprint, or the problem to answer.
std::optional<net::http_response> check_idempotent(const net::http_request& request,
                                                   core::idempotency_fingerprint& fingerprint) {
  auto const key = request.header("Idempotency-Key");
  if (auto key_error = core::validate_idempotency_key(key);
      key_error != core::idempotency_key_error::none)
    return net::problem_response(
      core::to_api_error(key_error),
      "Idempotency-Key must be 1 to 255 printable characters; it is required here");
  auto printed = core::fingerprint_body(request.body);
  if (!printed)
    return net::problem_response(core::to_api_error(printed.error),
                                 "the body must be empty or JSON");
  fingerprint = printed.value;
  return std::nullopt;
}

/// What a stored or refused start of an idempotent request answers; empty for `execute`.
std::optional<net::http_response> answer_start(resource_store::begun& begun) {
  switch (begun.what) {
  case resource_store::start::replay:
    return replayed(begun.status, std::move(begun.body));
  case resource_store::start::conflict:
    return net::problem_response(api_error::idempotency_conflict,
                                 "this Idempotency-Key was used with another request body");
  case resource_store::start::in_flight:
    return net::problem_response(
      core::problem(api_error::idempotency_in_flight, "the original request is still running")
        .retry_after(core::idempotency_retry_after_seconds));
  case resource_store::start::full:
    return try_again(api_error::overloaded, "too many requests remembered; retry shortly",
                     "overloaded");
  case resource_store::start::execute:
    break;
  }
  return std::nullopt;
}

} // namespace

void service::rotate_resource(const net::http_request& request, std::string_view id,
                              reply_to reply) {
  net::http_response refusal;
  auto account = authenticate(request, refusal);
  if (!account) {
    reply.respond(std::move(refusal));
    return;
  }
  core::idempotency_fingerprint fingerprint{};
  if (auto problem = check_idempotent(request, fingerprint)) {
    reply.respond(std::move(*problem));
    return;
  }
  auto const scope = resource_store::scope_of(account->id, "POST", request.path,
                                              request.header("Idempotency-Key"));
  auto begun = resources_.begin_scope(scope, fingerprint, {});
  if (auto answer = answer_start(begun)) {
    reply.respond(std::move(*answer));
    return;
  }
  auto finish = [&](net::http_response response) {
    resources_.finish_scope(scope, response.status, response.body);
    reply.respond(std::move(response));
  };
  auto credential = random_text<account_token_random_bytes>("rpk_", random_);
  if (!credential) {
    finish(net::problem_response(api_error::internal, "no randomness for credentials"));
    return;
  }
  auto rotated = resources_.rotate(account->id, id, std::move(*credential));
  switch (rotated.what) {
  case resource_store::change::not_found:
    finish(net::problem_response(api_error::not_found, "no such resource"));
    return;
  case resource_store::change::removed:
    // A removed resource has no credentials to rotate: it is gone, as far as rotation goes.
    finish(refused(api_error::not_found, "the resource was removed", "resource_removed"));
    return;
  case resource_store::change::done:
    break;
  }
  finish(json_response(200, resource_body(rotated.now, true)));
}

void service::delete_resource(const net::http_request& request, std::string_view id,
                              reply_to reply) {
  net::http_response refusal;
  auto account = authenticate(request, refusal);
  if (!account) {
    reply.respond(std::move(refusal));
    return;
  }
  core::idempotency_fingerprint fingerprint{};
  if (auto problem = check_idempotent(request, fingerprint)) {
    reply.respond(std::move(*problem));
    return;
  }
  auto const scope = resource_store::scope_of(account->id, "DELETE", request.path,
                                              request.header("Idempotency-Key"));
  auto begun = resources_.begin_scope(scope, fingerprint, {});
  if (auto answer = answer_start(begun)) {
    reply.respond(std::move(*answer));
    return;
  }
  auto removed = resources_.remove(account->id, id);
  net::http_response response =
    removed.what == resource_store::change::not_found
      ? net::problem_response(api_error::not_found, "no such resource")
      : json_response(200, resource_body(removed.now, false));
  resources_.finish_scope(scope, response.status, response.body);
  reply.respond(std::move(response));
}

// --- The meter (meter.hpp) ---------------------------------------------------------------------

void service::meter_ended() {
  meters_running_.fetch_sub(1);
}

void service::schedule_tick(std::string resource_id, std::uint64_t tick) {
  if (stopped_.load()) {
    meter_ended();
    return;
  }
  auto accepted = timers_.after(config_.meter_interval_ms,
                                [this, resource_id, tick](bool fired) {
                                  if (fired)
                                    send_tick(resource_id, tick);
                                  else
                                    meter_ended();
                                });
  if (accepted)
    return;
  // The timer thread has room for one tick per resource (limits::timers_max): refusing means it
  // is stopping, or a bug. Either way this meter cannot go on, and the resource says so.
  if (!stopped_.load())
    resources_.suspend(resource_id, "meter_unavailable");
  meter_ended();
}

void service::send_tick(const std::string& resource_id, std::uint64_t tick) {
  auto r = resources_.get(resource_id);
  // Removed or suspended: the meter ends here, with no timer left behind.
  if (!r || r->status != resource_status::ready) {
    meter_ended();
    return;
  }
  auto const amount = config_.meter_units * compute_price_amount;
  auto body = tick_charge_body(r->payment_token, resource_id, config_.meter_units,
                               compute_price_amount, compute_unit);
  client_.request(charge_request(tick_key(resource_id, tick), std::move(body)),
                  [this, resource_id, tick, amount](net::client_result result) {
                    auto verdict = judge_tick(result);
                    switch (verdict.what) {
                    case tick_outcome::charged:
                      if (resources_.record_tick(resource_id, tick, amount))
                        schedule_tick(resource_id, tick + 1);
                      else
                        meter_ended();
                      return;
                    case tick_outcome::stopped:
                      resources_.suspend(resource_id, std::move(verdict.reason));
                      meter_ended();
                      return;
                    case tick_outcome::retry:
                      schedule_tick(resource_id, tick);
                      return;
                    }
                  });
}

} // namespace steward::refprovider
