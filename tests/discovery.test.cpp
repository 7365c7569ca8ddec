// stewardd's discovery documents for providers (DESIGN 4.3, 5) and where its vault key comes from
// (DESIGN 6, 8), against the real binary: the JWKS publishes the data dir's signing key, the
// OpenID configuration names the issuer, and stewardd starts with its vault key in the
// environment, refuses a malformed one and refuses to run with none.

#include "core/jws.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

namespace steward::test_support {
namespace {

namespace fs = std::filesystem;

class discovery : public stewardd_test {
protected:
  /// Runs stewardd once with --demo in a new run dir so that every secret exists, then stops it.
  fs::path prepared_run_dir() {
    auto* first = start_stewardd();
    if (first == nullptr)
      return {};
    first->process().signal(SIGTERM);
    first->process().wait_exit(deadline_in(std::chrono::seconds(15)));
    return first->run_dir();
  }

  /// stewardd without --demo on `run_dir`, started through env(1) with only `environment` of
  /// STEWARD_VAULT_KEY (whatever the test's own environment holds).
  std::unique_ptr<child_process> spawn_with(const fs::path& run_dir,
                                            const std::vector<std::string>& environment) {
    std::vector<std::string> argv{"/usr/bin/env", "-u", "STEWARD_VAULT_KEY"};
    argv.insert(argv.end(), environment.begin(), environment.end());
    argv.push_back(*stewardd_path());
    for (auto& arg : base_args(run_dir))
      if (arg != "--demo")
        argv.push_back(arg);
    std::string error;
    auto log_dir = run_dir / ("env-run-" + std::to_string(++runs_));
    fs::create_directories(log_dir);
    auto child = child_process::spawn(argv, log_dir, error);
    EXPECT_TRUE(child) << error;
    return child;
  }

  int runs_ = 0;
};

TEST_F(discovery, the_jwks_publishes_the_data_dirs_signing_key) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  std::vector<std::string> kids;
  for (const auto& entry : fs::directory_iterator(server->run_dir() / "data" / "signing"))
    kids.push_back(entry.path().stem().string());
  ASSERT_EQ(kids.size(), 1u);

  api_client client(server->public_port());
  auto jwks = client.send("GET", "/.well-known/jwks.json");
  ASSERT_TRUE(jwks);
  ASSERT_EQ(jwks->status, 200) << jwks->body;
  EXPECT_EQ(jwks->header("Cache-Control"), "public, max-age=300");
  core::jwk_set keys;
  ASSERT_EQ(core::parse_jwks(jwks->body, keys), core::jwks_error::none) << jwks->body;
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_NE(keys.find(kids[0]), nullptr) << "published under the kid of DIR/signing/KID.pem";
  EXPECT_EQ(jwks->body.find("\"d\""), std::string::npos) << "no private member";
}

TEST_F(discovery, the_openid_configuration_names_the_issuer_and_its_jwks) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  api_client client(server->public_port());
  auto document = client.send("GET", "/.well-known/openid-configuration");
  ASSERT_TRUE(document);
  ASSERT_EQ(document->status, 200) << document->body;
  const std::string issuer = "http://127.0.0.1:" + std::to_string(server->public_port());
  EXPECT_EQ(json_string(document->body, "issuer"), issuer) << "the bound address, without --public-url";
  EXPECT_EQ(json_string(document->body, "jwks_uri"), issuer + "/.well-known/jwks.json");

  auto* configured = start_stewardd({"--public-url=https://steward.example.com"});
  ASSERT_NE(configured, nullptr);
  api_client other(configured->public_port());
  auto named = other.send("GET", "/.well-known/openid-configuration");
  ASSERT_TRUE(named);
  EXPECT_EQ(json_string(named->body, "issuer"), "https://steward.example.com");
  EXPECT_EQ(json_string(named->body, "jwks_uri"), "https://steward.example.com/.well-known/jwks.json");
}

TEST_F(discovery, the_vault_key_may_come_from_the_environment_and_is_required) {
  const fs::path run_dir = prepared_run_dir();
  ASSERT_FALSE(run_dir.empty());
  fs::remove(run_dir / "data" / "vault.key");

  // Without the file and without the variable: refused, naming the file.
  auto none = spawn_with(run_dir, {});
  ASSERT_TRUE(none);
  auto status = none->wait_exit(deadline_in(std::chrono::seconds(15)));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(none->stderr_text().find("vault.key"), std::string::npos) << none->stderr_text();

  // A malformed variable: refused, naming the variable and not repeating its value.
  auto malformed = spawn_with(run_dir, {"STEWARD_VAULT_KEY=not-a-key-but-a-secret-value"});
  ASSERT_TRUE(malformed);
  status = malformed->wait_exit(deadline_in(std::chrono::seconds(15)));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  const std::string refused = malformed->stderr_text();
  EXPECT_NE(refused.find("STEWARD_VAULT_KEY"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("not-a-key-but-a-secret-value"), std::string::npos) << refused;

  // A key in the environment is enough.
  auto from_environment = spawn_with(
    run_dir, {"STEWARD_VAULT_KEY=" + std::string(64, 'a').replace(0, 8, "0123abcd")});
  ASSERT_TRUE(from_environment);
  auto line = from_environment->read_first_line(deadline_in(std::chrono::seconds(10)));
  ASSERT_TRUE(line) << from_environment->stderr_text();
  EXPECT_TRUE(parse_listening_line(*line)) << *line;
  from_environment->signal(SIGTERM);
  status = from_environment->wait_exit(deadline_in(std::chrono::seconds(15)));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

} // namespace
} // namespace steward::test_support
