// lingua-hosts-spec: the devices file as tools/emulated_hosts.sh needs it, read and validated by
// the project's own parser (so the script never second-guesses units like "1.5GiB" or "5ms").
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include "plan/devices_file.h"

namespace {

const char* kUsage =
    "usage: lingua-hosts-spec list FILE\n"
    "         one line per device: host INDEX NAME CPU_CORES MEMORY_BYTES BANDWIDTH_BIT_PER_S LATENCY_NS\n"
    "         (CPU_CORES 0 = no quota; bandwidth and latency of the default link), then one line\n"
    "         per pair link: pair INDEX_A INDEX_B LATENCY_NS\n"
    "       lingua-hosts-spec endpoints FILE NAME=ENDPOINT...\n"
    "         the devices file again (as YAML, comments dropped) with each named device's endpoint set\n";

int fail(const std::string& message) {
  std::fprintf(stderr, "lingua-hosts-spec: %s\n", message.c_str());
  return 1;
}

int list(const lingua::DevicesFile& file) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < file.devices.size(); ++i) {
    const lingua::DeviceSpec& d = file.devices[i];
    index[d.name] = i;
    std::printf("host %zu %s %.6g %llu %.0f %.0f\n", i, d.name.c_str(), d.cpu_cores,
                static_cast<unsigned long long>(d.memory_bytes), file.default_link.bandwidth_bytes_per_s * 8,
                file.default_link.latency_s * 1e9);
  }
  for (const auto& [a, b, link] : file.pair_links)
    std::printf("pair %zu %zu %.0f\n", index.at(a), index.at(b), link.latency_s * 1e9);
  return 0;
}

// The file was validated already; yaml-cpp re-reads it only to rewrite the endpoints.
int endpoints(const std::string& path, const lingua::DevicesFile& file, int argc, char** argv) {
  std::map<std::string, std::string> wanted;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) return fail("expected NAME=ENDPOINT, got '" + arg + "'");
    const std::string name = arg.substr(0, eq);
    if (!file.find(name)) return fail("no device '" + name + "' in " + path);
    wanted[name] = arg.substr(eq + 1);
  }
  try {
    YAML::Node root = YAML::LoadFile(path);
    for (YAML::Node device : root["devices"]) {
      const auto it = wanted.find(device["name"].as<std::string>());
      if (it != wanted.end()) device["endpoint"] = it->second;
    }
    YAML::Emitter out;
    out << root;
    std::cout << "# " << path << " with the endpoints of its emulated hosts (tools/emulated_hosts.sh)\n"
              << out.c_str() << "\n";
  } catch (const std::exception& e) {
    return fail(path + ": " + e.what());
  }
  return std::cout.good() ? 0 : fail("cannot write the devices file to stdout");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs(kUsage, stderr);
    return 1;
  }
  const std::string command = argv[1];
  if (command != "list" && command != "endpoints") return fail("unknown command '" + command + "'\n" + kUsage);
  const auto file = lingua::load_devices_file(argv[2]);
  if (!file) return fail(file.error());
  if (command == "list") {
    if (argc != 3) return fail("list takes one devices file");
    return list(*file);
  }
  return endpoints(argv[2], *file, argc, argv);
}
