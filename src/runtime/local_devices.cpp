// LocalDevices: fork/exec with PR_SET_PDEATHSIG, a pipe per worker for its bound endpoint, keys
// in a private temporary directory that is removed as soon as every worker has read its own.
#include "runtime/local_devices.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "graph/cost_model.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

// Reads one line from fd within timeout_ms; "" on timeout or EOF.
std::string read_line(int fd, int timeout_ms) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (line.empty() || line.back() != '\n') {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[256];
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) return "";
    line.append(buf, static_cast<size_t>(got));
  }
  line.pop_back();
  return line;
}

struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

Partition local_devices_partition(const Graph& graph, int k) {
  const std::vector<double> cost = predicted_decode_seconds(op_costs(graph), default_compute_rates());
  // Fewer cuts until every segment has weights; one segment always has them all.
  for (int j = std::min(k, graph.size()); j > 1; --j) {
    Partition p = Partition::balanced(graph, cost, j);
    const auto& segments = p.segments();
    if (std::all_of(segments.begin(), segments.end(),
                    [&](const Segment& s) { return !segment_tensors(graph, s).empty(); }))
      return p;
  }
  return Partition::whole(graph);
}

std::string self_executable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

Expected<std::unique_ptr<LocalDevices>> LocalDevices::start(const std::string& self, const std::vector<std::string>& names,
                                                            const KeyPair& head, bool insecure) {
  if (self.empty()) return Status::error("cannot find this program's executable to start local workers");
  std::unique_ptr<LocalDevices> devices(new LocalDevices());
  TempDir keys;
  if (!insecure) {
    char tmpl[] = "/tmp/lingua-keys-XXXXXX";
    if (!::mkdtemp(tmpl)) return Status::error("cannot make a private directory for the local workers' keys");
    keys.path = tmpl;
  }
  const pid_t head_pid = ::getpid();
  std::vector<int> ready_fds;
  for (size_t i = 0; i < names.size(); ++i) {
    LocalWorker w;
    w.name = names[i];
    const fs::path dir = keys.path / ("w" + std::to_string(i));
    if (!insecure) {
      auto pair = generate_keypair();
      if (!pair) return pair.status();
      LINGUA_TRY(write_keypair(dir, "lingua", *pair, false));
      LINGUA_TRY(write_public_key(dir / "heads", "head", head.public_key, false));
      w.public_key = pair->public_key;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::error("cannot make a pipe for a local worker");
    std::vector<std::string> args = {self, "worker", "--listen", "tcp://127.0.0.1:0", "--name", w.name,
                                     "--ready-fd", std::to_string(fds[1]), "--exit-after-session", "--quiet",
                                     "--no-profile"};  // priced from the devices file and the head's profile
    if (insecure) args.push_back("--insecure");
    else {
      args.push_back("--keys");
      args.push_back(dir.string());
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return Status::error("cannot start a local worker process");
    }
    if (pid == 0) {
      // The worker dies with the head, however the head ends.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != head_pid) ::_exit(1);
      ::fcntl(fds[1], F_SETFD, 0);  // the ready pipe survives exec
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(self.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    ready_fds.push_back(fds[0]);
    w.pid = pid;
    devices->workers_.push_back(std::move(w));
  }
  Status failed;
  for (size_t i = 0; i < ready_fds.size(); ++i) {
    const std::string endpoint = read_line(ready_fds[i], 30000);
    ::close(ready_fds[i]);
    if (endpoint.empty() && failed.is_ok()) {
      std::string why;
      failed = Status::error(devices->dead(&why).empty() ? "local device " + names[i] + " did not start within 30 s" : why);
    }
    devices->workers_[i].endpoint = endpoint;
  }
  if (!failed.is_ok()) return failed;  // the destructor stops what did start
  return devices;
}

std::string LocalDevices::dead(std::string* what) {
  for (LocalWorker& w : workers_) {
    if (w.pid <= 0) continue;
    int status = 0;
    const pid_t r = ::waitpid(w.pid, &status, WNOHANG);
    if (r != w.pid) continue;
    const pid_t pid = w.pid;
    w.pid = -1;
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    if (what) *what = "device " + w.name + " (local worker, pid " + std::to_string(pid) + ") " + how;
    return w.name;
  }
  return "";
}

void LocalDevices::stop_all() {
  for (LocalWorker& w : workers_)
    if (w.pid > 0) {
      ::kill(w.pid, SIGTERM);
      ::kill(w.pid, SIGCONT);  // a stopped (frozen) worker must run to see the SIGTERM
    }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (LocalWorker& w : workers_) {
    while (w.pid > 0) {
      int status = 0;
      if (::waitpid(w.pid, &status, WNOHANG) == w.pid) {
        w.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(w.pid, SIGKILL);
        ::waitpid(w.pid, &status, 0);
        w.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

LocalDevices::~LocalDevices() { stop_all(); }

}  // namespace lingua
