// Worker processes the head starts on this machine (`--local-devices K`, or devices without an
// endpoint): each on a free loopback port, with keys made on the fly, tied to the head's life
// (they die with it, even when the head is killed), and stopped and reaped when it is done.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "net/keys.h"

namespace lingua {

struct LocalWorker {
  std::string name;
  pid_t pid = -1;
  std::string endpoint;    // tcp://127.0.0.1:PORT
  std::string public_key;  // "" when insecure
};

class LocalDevices {
 public:
  // Starts one `lingua worker` per name from the executable at `self` (normally /proc/self/exe).
  // `head` is the key the workers accept; insecure: plain loopback sockets, no keys.
  static Expected<std::unique_ptr<LocalDevices>> start(const std::string& self, const std::vector<std::string>& names,
                                                       const KeyPair& head, bool insecure);
  ~LocalDevices();  // stops and reaps every worker
  LocalDevices(const LocalDevices&) = delete;
  LocalDevices& operator=(const LocalDevices&) = delete;

  const std::vector<LocalWorker>& workers() const { return workers_; }
  // "" while all run; otherwise the name of the first that ended (each is reported once), and in
  // *what "device NAME (local worker, pid P) was killed by signal 9" or the like.
  std::string dead(std::string* what = nullptr);

 private:
  LocalDevices() = default;
  void stop_all();
  std::vector<LocalWorker> workers_;
};

// The cuts for `--local-devices K` alone: cost-balanced, at most K segments, and as many as can
// each read some weights (a segment of additions and attention alone gives a worker nothing to
// load, and a worker refuses it). The devices beyond the segments stand by for the balancer.
Partition local_devices_partition(const Graph& graph, int k);

// The executable of this process (for starting workers of the same build).
std::string self_executable();

}  // namespace lingua
