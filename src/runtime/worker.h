// The device agent (`lingua worker`): listens for a head, loads the op range it is assigned,
// runs it for every step of every sequence in flight with a KV cache per sequence, and sends
// each tensor it makes straight to the workers the transmission map names (logits to the head).
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "net/secure_channel.h"
#include "plan/device_profile.h"

namespace lingua {

struct WorkerOptions {
  std::string listen;          // tcp://HOST:PORT (port 0: any free one)
  std::string name = "worker";
  ChannelOptions channel;      // own keys and the trusted head keys (or insecure)
  std::string trusted_dir;     // re-read for new head keys while running ("" = never)
  std::string models_dir;      // model files it may use, matched by content ("" = none)
  std::string cache_dir;       // where segments received from a head are kept for next time
  int ready_fd = -1;           // when >= 0: the bound endpoint is written here, then closed
  bool exit_after_session = false;  // local devices: end when the head says goodbye
  bool quiet = false;               // log errors only
  int threads = 1;                  // an assignment's threads when it says 0 (--threads)
  uint64_t memory_limit_bytes = 0;  // the most it uses whatever a head's budget says; 0 = none
  std::optional<DeviceProfile> profile;  // sent in HELLO; none with --no-profile
  // Measure `profile` (at `threads`, cached unless `reprofile`) once it has bound its socket and
  // before it says where it listens; memory_limit_bytes becomes the profile's usable memory.
  bool measure_profile = false;
  uint64_t memory_flag_bytes = 0;   // --memory, for the profile
  bool reprofile = false;
};

// Runs until `stop` becomes true (signals), or the head ends the session when
// exit_after_session. Errors: cannot listen, bad keys, a profile that cannot be measured.
Status run_worker(const WorkerOptions& options, const std::atomic<bool>& stop);

}  // namespace lingua
