// steward's attestations verified by an independent JOSE implementation: the `jose` npm package
// under node (tests/jose/verify.mjs), as a provider written in JavaScript would verify them. The
// keys come from real data dirs (`ensure_demo_secrets`, `rotate_signing_key`), the JWKS is the
// document steward serves, and each refusal is checked by jose's own error code, so a token that
// jose refused for an unrelated reason does not pass as the refusal under test.
//
// node and jose are installed by tools/install-deps; without them this test fails (it never skips:
// a skipped interoperability test looks like a passing one).

#include "core/attestation.hpp"
#include "core/json_reader.hpp"
#include "storage/signing_keys.hpp"
#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace steward {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view issuer = "http://127.0.0.1:8080";
constexpr std::string_view audience = "refprovider";
const core::attestation_request request{
  issuer, "usr_0000000000000000000042", audience, "ada@example.com", true, "Ada Lovelace"};

constexpr std::string_view install_hint = "; run tools/install-deps";

/// What verify.mjs concluded.
struct node_verdict {
  int exit_code = -1;
  std::string output; // its stdout line
  std::string errors; // its stderr
  // Exit 0:
  std::string sub, email, aud, iss, jti, kid, typ;
  // Exit 1:
  std::string error, claim;
};

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
}

class attestation_jose_test : public ::testing::Test {
protected:
  void SetUp() override {
    const char* dir = std::getenv("STEWARD_JOSE_DIR");
    ASSERT_TRUE(dir != nullptr && *dir != '\0')
      << "STEWARD_JOSE_DIR is unset; run this test through meson (meson test jose)";
    jose_dir_ = dir;
    ASSERT_TRUE(fs::exists(jose_dir_ / "verify.mjs")) << jose_dir_ << " has no verify.mjs";
    ASSERT_TRUE(fs::exists(jose_dir_ / "node_modules" / "jose" / "package.json"))
      << "the jose package is not installed in " << (jose_dir_ / "node_modules").string()
      << install_hint;
    data_dir_ = work_.path() / "data";
    storage::demo_result created;
    auto error = storage::ensure_demo_secrets(data_dir_, {}, created);
    ASSERT_FALSE(error.has_value()) << storage::to_string(*error);
  }

  /// The ring of data dir `dir` as a start at `now` would load it.
  static storage::signing_key_ring load_ring(const fs::path& dir, std::int64_t now) {
    std::vector<storage::signing_key> keys;
    auto error = storage::load_signing_keys(dir, keys);
    EXPECT_FALSE(error.has_value()) << storage::to_string(*error);
    std::optional<storage::signing_key_ring> ring;
    error = storage::signing_key_ring::make(keys, now, ring);
    EXPECT_FALSE(error.has_value()) << storage::to_string(*error);
    return std::move(*ring);
  }

  std::string mint(const core::jws_signing_key& key, std::int64_t at,
                   const core::attestation_request& r = request) {
    core::minted_attestation out;
    EXPECT_EQ(core::make_attestation(r, key, at, random_, out), core::attestation_error::none);
    return out.token;
  }

  /// Runs `node verify.mjs` on `token` and `jwks` with the verifier's clock at `now`.
  node_verdict run_node(std::string_view token, std::string_view jwks, std::int64_t now,
                        std::string_view expected_audience = audience) {
    node_verdict verdict;
    const std::string id = std::to_string(runs_++);
    const fs::path token_file = work_.path() / ("token-" + id);
    const fs::path jwks_file = work_.path() / ("jwks-" + id + ".json");
    const fs::path out_file = work_.path() / ("stdout-" + id);
    const fs::path err_file = work_.path() / ("stderr-" + id);
    write_file(token_file, token);
    write_file(jwks_file, jwks);

    std::vector<std::string> args{"node",
                                  (jose_dir_ / "verify.mjs").string(),
                                  token_file.string(),
                                  jwks_file.string(),
                                  std::string(issuer),
                                  std::string(expected_audience),
                                  std::to_string(now)};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    const int spawned = ::posix_spawnp(&pid, "node", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      ADD_FAILURE() << "cannot start node: " << std::strerror(spawned) << " (node is not on PATH?)"
                    << install_hint;
      return verdict;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        ADD_FAILURE() << "waitpid: " << std::strerror(errno);
        return verdict;
      }
    }
    verdict.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    verdict.output = read_file(out_file);
    verdict.errors = read_file(err_file);
    if (verdict.exit_code == 127)
      ADD_FAILURE() << "node could not be run" << install_hint << "\n" << verdict.errors;
    if (verdict.exit_code == 2) ADD_FAILURE() << "verify.mjs could not run: " << verdict.errors;
    if (verdict.exit_code != 0 && verdict.exit_code != 1) return verdict;

    // Its one line of JSON, read with steward's own strict reader.
    const core::json_error error = core::decode(verdict.output, [&](core::object_reader& o) {
      o.optional("sub", verdict.sub);
      o.optional("email", verdict.email);
      o.optional("aud", verdict.aud);
      o.optional("iss", verdict.iss);
      o.optional("jti", verdict.jti);
      o.optional("kid", verdict.kid);
      o.optional("typ", verdict.typ);
      o.optional("error", verdict.error);
      o.optional("claim", verdict.claim);
    });
    EXPECT_FALSE(error) << "unexpected output from verify.mjs: " << verdict.output;
    return verdict;
  }

  void expect_refused(const node_verdict& verdict, std::string_view code,
                      std::string_view claim = "") {
    EXPECT_EQ(verdict.exit_code, 1) << verdict.output << verdict.errors;
    EXPECT_EQ(verdict.error, code) << verdict.output;
    EXPECT_EQ(verdict.claim, claim) << verdict.output;
  }

  test_support::temp_dir work_;
  fs::path jose_dir_;
  fs::path data_dir_;
  core::openssl_random random_;
  int runs_ = 0;
  // A fixed clock: jose is given the same one (`currentDate`), so nothing depends on the time.
  const std::int64_t now_ = 1700000000;
};

TEST_F(attestation_jose_test, jose_verifies_a_good_attestation_and_reads_its_claims) {
  const auto ring = load_ring(data_dir_, now_);
  core::minted_attestation minted;
  ASSERT_EQ(core::make_attestation(request, ring.signer(), now_, random_, minted),
            core::attestation_error::none);
  const node_verdict verdict = run_node(minted.token, ring.jwks_document(), now_ + 5);
  ASSERT_EQ(verdict.exit_code, 0) << verdict.output << verdict.errors;
  EXPECT_EQ(verdict.sub, "usr_0000000000000000000042");
  EXPECT_EQ(verdict.email, "ada@example.com");
  EXPECT_EQ(verdict.aud, audience);
  EXPECT_EQ(verdict.iss, issuer);
  EXPECT_EQ(verdict.jti, minted.claims.jti);
  EXPECT_EQ(verdict.kid, ring.signer().kid());
  EXPECT_EQ(verdict.typ, core::attestation_typ);
}

TEST_F(attestation_jose_test, jose_refuses_a_tampered_payload) {
  const auto ring = load_ring(data_dir_, now_);
  const std::string token = mint(ring.signer(), now_);
  const std::size_t first = token.find('.');
  const std::size_t second = token.rfind('.');
  std::string payload;
  ASSERT_TRUE(core::base64url_decode(token.substr(first + 1, second - first - 1), payload));
  const std::size_t at = payload.find("ada@");
  ASSERT_NE(at, std::string::npos);
  payload.replace(at, 4, "eve@");
  const std::string tampered =
    token.substr(0, first + 1) + core::base64url_encode(payload) + token.substr(second);
  // steward's own verifier agrees, which shows the tampered token is otherwise well formed.
  core::attestation_claims claims;
  ASSERT_EQ(core::verify_attestation(tampered, ring.published(), issuer, audience, now_, claims),
            core::attestation_error::bad_signature);
  expect_refused(run_node(tampered, ring.jwks_document(), now_),
                 "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
}

TEST_F(attestation_jose_test, jose_refuses_a_key_that_is_not_published) {
  const auto ring = load_ring(data_dir_, now_);
  // Another data dir's key: a signer that is not in this JWKS.
  const fs::path other_dir = work_.path() / "other";
  storage::demo_result created;
  ASSERT_FALSE(storage::ensure_demo_secrets(other_dir, {}, created).has_value());
  const auto other = load_ring(other_dir, now_);
  ASSERT_NE(other.signer().kid(), ring.signer().kid());
  expect_refused(run_node(mint(other.signer(), now_), ring.jwks_document(), now_),
                 "ERR_JWKS_NO_MATCHING_KEY");
  // And the same foreign key under the published kid: the signature is what fails.
  std::vector<storage::signing_key> keys;
  ASSERT_FALSE(storage::load_signing_keys(other_dir, keys).has_value());
  const auto impostor =
    core::jws_signing_key::from_private_key(ring.signer().kid(), keys.front().private_key);
  ASSERT_TRUE(impostor.has_value());
  expect_refused(run_node(mint(*impostor, now_), ring.jwks_document(), now_),
                 "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
}

TEST_F(attestation_jose_test, jose_refuses_an_expired_attestation) {
  const auto ring = load_ring(data_dir_, now_);
  const std::string token = mint(ring.signer(), now_);
  // Still valid one second before exp, by jose's clock as by steward's.
  EXPECT_EQ(run_node(token, ring.jwks_document(), now_ + 299).exit_code, 0);
  expect_refused(run_node(token, ring.jwks_document(), now_ + 301), "ERR_JWT_EXPIRED", "exp");
}

TEST_F(attestation_jose_test, jose_refuses_a_wrong_audience) {
  const auto ring = load_ring(data_dir_, now_);
  expect_refused(run_node(mint(ring.signer(), now_), ring.jwks_document(), now_, "other-provider"),
                 "ERR_JWT_CLAIM_VALIDATION_FAILED", "aud");
}

TEST_F(attestation_jose_test, old_tokens_verify_against_the_jwks_after_a_rotation) {
  const auto before = load_ring(data_dir_, now_);
  const std::string old_token = mint(before.signer(), now_);
  std::string new_kid;
  auto error = storage::rotate_signing_key(data_dir_, new_kid);
  ASSERT_FALSE(error.has_value()) << storage::to_string(*error);
  const auto after = load_ring(data_dir_, now_ + 1); // the next start
  ASSERT_EQ(after.signer().kid(), new_kid);
  ASSERT_EQ(after.published().size(), 2u);

  const node_verdict old_verdict = run_node(old_token, after.jwks_document(), now_ + 2);
  ASSERT_EQ(old_verdict.exit_code, 0) << old_verdict.output << old_verdict.errors;
  EXPECT_EQ(old_verdict.kid, before.signer().kid());
  EXPECT_EQ(old_verdict.email, "ada@example.com");

  const node_verdict new_verdict =
    run_node(mint(after.signer(), now_ + 1), after.jwks_document(), now_ + 2);
  ASSERT_EQ(new_verdict.exit_code, 0) << new_verdict.output << new_verdict.errors;
  EXPECT_EQ(new_verdict.kid, new_kid);

  // The JWKS from before the rotation does not know the new key.
  expect_refused(run_node(mint(after.signer(), now_ + 1), before.jwks_document(), now_ + 2),
                 "ERR_JWKS_NO_MATCHING_KEY");
}

} // namespace
} // namespace steward
