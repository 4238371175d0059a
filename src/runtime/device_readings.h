// What a worker can read about its own machine for the head's monitoring: resident memory, and
// where the OS exposes them, temperature and battery (phones and laptops slow down on both).
#pragma once
#include <cstdint>

namespace lingua {

struct DeviceReadings {
  uint64_t memory_bytes = 0;  // resident set of this process
  double temperature_c = -1;  // hottest thermal zone; -1 = none exposed
  double battery = -1;        // 0..1 of the first battery; -1 = none
};

// Memory from /proc/self/statm; temperature and battery from /sys (cheap enough to read per step:
// a few small files, and the thermal/battery ones are re-read at most once a second).
DeviceReadings read_device_readings();

}  // namespace lingua
