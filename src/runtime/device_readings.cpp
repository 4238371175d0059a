// read_device_readings: /proc and /sys files, parsed leniently (a missing file is "not known").
#include "runtime/device_readings.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace lingua {
namespace {

bool read_number(const std::string& path, double& out) {
  std::ifstream in(path);
  return static_cast<bool>(in >> out);
}

double hottest_zone_c() {
  double hottest = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/thermal", ec)) {
    if (e.path().filename().string().rfind("thermal_zone", 0) != 0) continue;
    double milli = 0;
    if (read_number((e.path() / "temp").string(), milli) && milli > 0) hottest = std::max(hottest, milli / 1000.0);
  }
  return hottest;
}

double battery_fraction() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/power_supply", ec)) {
    std::ifstream type((e.path() / "type").string());
    std::string t;
    if (!(type >> t) || t != "Battery") continue;
    double percent = 0;
    if (read_number((e.path() / "capacity").string(), percent)) return std::clamp(percent / 100.0, 0.0, 1.0);
  }
  return -1;
}

}  // namespace

DeviceReadings read_device_readings() {
  using Clock = std::chrono::steady_clock;
  static Clock::time_point last_slow_read{};
  static double temperature = -1, battery = -1;
  DeviceReadings r;
  double pages = 0, resident = 0;
  std::ifstream statm("/proc/self/statm");
  if (statm >> pages >> resident) r.memory_bytes = static_cast<uint64_t>(resident) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (Clock::now() - last_slow_read > std::chrono::seconds(1)) {
    temperature = hottest_zone_c();
    battery = battery_fraction();
    last_slow_read = Clock::now();
  }
  r.temperature_c = temperature;
  r.battery = battery;
  return r;
}

}  // namespace lingua
