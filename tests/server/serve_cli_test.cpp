// `lingua serve` as a command: bad flags and a port in use end with one clear line and exit 1;
// SIGTERM stops a running server with exit 0.
#include <unistd.h>

#include "serve_process.h"
#include "server_harness.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

class ServeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lingua-serve-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(ServeCli, BadFlagsAreOneLineErrors) {
  const std::string m = testing::shipped_model();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"serve", "-m", m, "--parallel", "0"}, "--parallel must be 1..256"},
      {{"serve", "-m", m, "--port", "70000"}, "--port must be 0..65535"},
      {{"serve", "-m", m, "--queue", "-1"}, "--queue must be 0 or more"},
      {{"serve", "-m", m, "--timeout", "0"}, "--timeout must be at least 1 second"},
      {{"serve", "-m", m, "--chat-template", (dir_ / "none.jinja").string()}, "cannot read the chat template file"},
      {{"serve", "-m", m, "--plan", "p.json"}, "--plan needs --devices or --local-devices"},
      {{"serve", "-m", (dir_ / "missing.gguf").string()}, "missing.gguf"},
      {{"serve", "-m", m, "--host", "10.255.255.254", "--port", "8099"}, "cannot listen on 10.255.255.254:8099"},
  };
  for (const auto& [args, message] : cases) {
    const testing::CliRun r = testing::run_lingua(args, dir_, 60);
    EXPECT_EQ(r.rc, 1) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("lingua serve: ", 0), 0u) << r.err;
  }
}

TEST_F(ServeCli, APortInUseIsRefusedAndSigtermStops) {
  testing::ServeProcess first({"-m", testing::shipped_model(), "-t", "1"}, dir_ / "first.log");
  ASSERT_GT(first.port(), 0) << first.log();
  const testing::CliRun second =
      testing::run_lingua({"serve", "-m", testing::shipped_model(), "-t", "1", "--port", std::to_string(first.port())}, dir_, 60);
  EXPECT_EQ(second.rc, 1);
  EXPECT_NE(second.err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos) << second.err;
  EXPECT_EQ(first.stop(), 0) << first.log();
  EXPECT_NE(first.log().find("lingua serve: stopping"), std::string::npos) << first.log();
}

}  // namespace
}  // namespace lingua
