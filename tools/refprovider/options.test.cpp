#include "tools/refprovider/options.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace steward::refprovider {
namespace {

std::optional<option_error> parse(std::vector<std::string_view> args, options& out) {
  return parse_options(args, out);
}

const std::vector<std::string_view> required = {"--listen=127.0.0.1:0",
                                                "--steward-url=http://127.0.0.1:8080/",
                                                "--secret-file=/tmp/x.secret"};

std::vector<std::string_view> with(std::vector<std::string_view> extra) {
  auto args = required;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(refprovider_options, the_required_three_and_defaults) {
  options o;
  ASSERT_FALSE(parse(required, o));
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.steward_url, "http://127.0.0.1:8080") << "the trailing slash is dropped";
  EXPECT_EQ(o.secret_file, "/tmp/x.secret");
  EXPECT_EQ(o.slug, "ref");
  EXPECT_TRUE(o.existing_accounts.empty());
  EXPECT_FALSE(o.terms_version.empty());
  EXPECT_EQ(o.oauth_client_id, "steward");
  EXPECT_EQ(o.oauth_redirect_uri, "http://127.0.0.1:8080/oauth/callback");
  EXPECT_FALSE(o.oauth_auto_consent);
}

TEST(refprovider_options, every_option) {
  options o;
  ASSERT_FALSE(parse(with({"--slug=acme-cloud", "--existing-accounts=Ada@Example.com,bob@x.org",
                           "--terms-version=v7", "--oauth-client-id=my.client",
                           "--oauth-redirect-uri=https://app.example.com/cb?x=1",
                           "--oauth-auto-consent"}),
                     o));
  EXPECT_EQ(o.oauth_client_id, "my.client");
  EXPECT_EQ(o.oauth_redirect_uri, "https://app.example.com/cb?x=1");
  EXPECT_TRUE(o.oauth_auto_consent);
  EXPECT_EQ(o.slug, "acme-cloud");
  EXPECT_EQ(o.existing_accounts, (std::vector<std::string>{"ada@example.com", "bob@x.org"}));
  EXPECT_EQ(o.terms_version, "v7");
}

TEST(refprovider_options, a_missing_required_option_is_named) {
  for (std::size_t skip = 0; skip < required.size(); ++skip) {
    std::vector<std::string_view> args;
    for (std::size_t i = 0; i < required.size(); ++i)
      if (i != skip)
        args.push_back(required[i]);
    options o;
    auto error = parse(args, o);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->option, required[skip].substr(0, required[skip].find('=')));
    EXPECT_NE(to_string(*error).find("is required"), std::string::npos);
  }
}

TEST(refprovider_options, bad_values_name_their_option) {
  struct bad {
    std::string_view arg;
    std::string_view option;
  };
  for (auto [arg, option] : std::vector<bad>{
         {"--listen=127.0.0.1", "--listen"},
         {"--listen=example.com:80", "--listen"},
         {"--listen=127.0.0.1:65536", "--listen"},
         {"--listen=127.0.0.1:-1", "--listen"},
         {"--steward-url=http://steward.example.com", "--steward-url"},
         {"--steward-url=ftp://127.0.0.1", "--steward-url"},
         {"--steward-url=http://127.0.0.1/?x=1", "--steward-url"},
         {"--secret-file=", "--secret-file"},
         {"--slug=Bad.Slug", "--slug"},
         {"--existing-accounts=ada@example.com,,bob@x.org", "--existing-accounts"},
         {"--existing-accounts=not-an-email", "--existing-accounts"},
         {"--existing-accounts=a@x.org,A@X.org", "--existing-accounts"},
         {"--terms-version=", "--terms-version"},
         {"--terms-version=has space", "--terms-version"},
         {"--colour=blue", "--colour"},
         {"--oauth-client-id=", "--oauth-client-id"},
         {"--oauth-client-id=a b", "--oauth-client-id"},
         {"--oauth-redirect-uri=http://app.example.com/cb", "--oauth-redirect-uri"},
         {"--oauth-redirect-uri=/oauth/callback", "--oauth-redirect-uri"},
         {"--oauth-redirect-uri=https://app.example.com/cb#x", "--oauth-redirect-uri"},
         {"--oauth-auto-consent=yes", "--oauth-auto-consent"},
         {"--slug", "--slug"},
         {"listen=1", "listen"},
       }) {
    // Replace a required option rather than repeat it, so the error is about the value.
    std::vector<std::string_view> args;
    auto name = arg.substr(0, arg.find('='));
    for (auto r : required)
      if (r.substr(0, r.find('=')) != name)
        args.push_back(r);
    args.push_back(arg);
    options o;
    auto error = parse(args, o);
    ASSERT_TRUE(error) << arg;
    EXPECT_EQ(error->option, option) << arg << ": " << to_string(*error);
  }
}

TEST(refprovider_options, meter_and_faults) {
  options o;
  ASSERT_FALSE(parse(required, o));
  EXPECT_EQ(o.meter_interval_ms, 1000u);
  EXPECT_EQ(o.meter_units, 1);
  EXPECT_TRUE(o.faults.empty());
  EXPECT_FALSE(o.faults_from_header);

  ASSERT_FALSE(parse(with({"--meter-interval-ms=0", "--meter-units=7", "--fault=status:503@3",
                           "--fault=latency:200", "--faults-from-header"}),
                     o));
  EXPECT_EQ(o.meter_interval_ms, 0u) << "0 turns the meter off";
  EXPECT_EQ(o.meter_units, 7);
  ASSERT_EQ(o.faults.size(), 2u) << "--fault is repeatable";
  EXPECT_EQ(o.faults[0].kind, fault_kind::status);
  EXPECT_EQ(o.faults[0].every, 3u);
  EXPECT_EQ(o.faults[1].kind, fault_kind::latency);
  EXPECT_TRUE(o.faults_from_header);

  struct bad {
    std::string_view arg, option;
  };
  for (auto [arg, option] : std::vector<bad>{
         {"--meter-interval-ms=-1", "--meter-interval-ms"},
         {"--meter-interval-ms=999999999999", "--meter-interval-ms"},
         {"--meter-units=0", "--meter-units"},
         {"--meter-units=lots", "--meter-units"},
         {"--fault=drop:1", "--fault"},
         {"--fault=status:404", "--fault"},
         {"--faults-from-header=yes", "--faults-from-header"},
       }) {
    auto error = parse(with({arg}), o);
    ASSERT_TRUE(error) << arg;
    EXPECT_EQ(error->option, option) << arg;
  }
  std::vector<std::string_view> many = required;
  for (std::size_t i = 0; i <= limits::faults_max; ++i)
    many.push_back("--fault=latency:1");
  auto error = parse(many, o);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->option, "--fault");
}

TEST(refprovider_options, an_option_given_twice_is_refused) {
  options o;
  auto error = parse(with({"--slug=a", "--slug=b"}), o);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->option, "--slug");
  EXPECT_NE(error->message.find("twice"), std::string::npos);
}

TEST(refprovider_options, https_steward_urls_are_accepted_anywhere) {
  options o;
  std::vector<std::string_view> args = {"--listen=localhost:9000",
                                        "--steward-url=https://steward.example.com/base",
                                        "--secret-file=s"};
  ASSERT_FALSE(parse(args, o));
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 9000);
  EXPECT_EQ(o.steward_url, "https://steward.example.com/base");
}

class secret_file : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/refprovider-secret-XXXXXX";
    int fd = mkstemp(pattern);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = pattern;
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void write(std::string_view text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
  }
  std::string path_;
};

TEST_F(secret_file, reads_the_secret_without_its_newline) {
  write("s3cret\n");
  std::string secret;
  ASSERT_FALSE(load_secret(path_, secret));
  EXPECT_EQ(secret, "s3cret");
}

TEST_F(secret_file, refuses_missing_empty_long_and_binary_files) {
  std::string secret;
  for (std::string_view text : {std::string_view(""), std::string_view("\n"),
                                std::string_view("a\nb"), std::string_view("a\0b", 3)}) {
    write(text);
    auto error = load_secret(path_, secret);
    ASSERT_TRUE(error) << "accepted " << text.size() << " bytes";
    EXPECT_EQ(error->option, "--secret-file");
  }
  write(std::string(5000, 'x'));
  EXPECT_TRUE(load_secret(path_, secret));
  auto missing = load_secret(path_ + ".absent", secret);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->option, "--secret-file");
}

TEST(refprovider_emails, plausible_emails) {
  EXPECT_TRUE(is_plausible_email("ada@example.com"));
  EXPECT_FALSE(is_plausible_email("@example.com"));
  EXPECT_FALSE(is_plausible_email("ada@"));
  EXPECT_FALSE(is_plausible_email("ada@@example.com"));
  EXPECT_FALSE(is_plausible_email("a da@example.com"));
  EXPECT_FALSE(is_plausible_email(std::string(250, 'a') + "@x.org"));
  EXPECT_EQ(lowercase("Ada@Example.COM"), "ada@example.com");
}

} // namespace
} // namespace steward::refprovider
