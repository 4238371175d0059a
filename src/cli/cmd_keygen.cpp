// `lingua keygen`: make a CURVE key pair for a head or a worker (DIR/NAME.key secret, 0600, and
// DIR/NAME.pub to copy to the peers that must trust it), and the folders those copies go into.
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "net/keys.h"

namespace lingua::cli {
namespace {

class KeygenCommand : public Command {
 public:
  const char* name() const override { return "keygen"; }
  const char* summary() const override { return "make a CURVE key pair for encrypted head/worker links"; }

  void setup(CLI::App& app) override {
    app.add_option("-o,--out", dir_, "directory for NAME.key and NAME.pub (created with mode 0700), with the empty folders heads/ and workers/ "
                   "for the peers' public keys")->required();
    app.add_option("--name", key_name_, "base name of the key files")->capture_default_str();
    app.add_flag("--force", force_, "replace existing key files");
  }

  int run() override {
    auto keys = generate_keypair();
    if (!keys) return fail(name(), keys.error());
    if (Status st = write_keypair(dir_, key_name_, *keys, force_); !st) return fail(name(), st.message());
    std::printf("%s\n", keys->public_key.c_str());
    std::fprintf(stderr, "lingua keygen: secret key %s (keep private), public key %s (copy to the peers that must trust it)\n",
                 secret_key_path(dir_, key_name_).c_str(), public_key_path(dir_, key_name_).c_str());
    // Where the peers' public keys go, made here so the documented copy commands work as given:
    // heads/ on a worker (the heads it accepts), workers/ on a head (NAME.pub per device).
    for (const char* sub : {"heads", "workers"}) {
      const std::filesystem::path p = std::filesystem::path(dir_) / sub;
      std::error_code ec;
      if (std::filesystem::exists(p, ec)) continue;
      std::filesystem::create_directories(p, ec);
      if (ec) return fail(name(), "cannot create " + p.string() + ": " + ec.message());
    }
    std::fprintf(stderr,
                 "lingua keygen: on a worker, %s/heads/ takes the lingua.pub of each head it accepts; on a head, "
                 "%s/workers/NAME.pub the lingua.pub of each device NAME\n",
                 dir_.c_str(), dir_.c_str());
    return 0;
  }

 private:
  std::string dir_;
  std::string key_name_ = "lingua";
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Command> make_keygen_command() { return std::make_unique<KeygenCommand>(); }

}  // namespace lingua::cli
