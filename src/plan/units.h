// Sizes, bandwidths and durations as people write them in devices files ("1.5GiB", "100Mbit/s",
// "5ms"), parsed to plain numbers, and formatted back for messages.
#pragma once
#include <cstdint>
#include <string>

#include "core/status.h"

namespace lingua {

// Bytes from "400MiB", "1.5GiB", "512KiB", "2GB", "64B" or a plain integer (bytes).
// Decimal units KB/MB/GB/TB are powers of 1000; binary KiB/MiB/GiB/TiB powers of 1024.
Expected<uint64_t> parse_size(const std::string& text);
// Bytes per second from "100Mbit/s", "1Gbit/s", "8GB/s", "500MB/s", "12.5MiB/s" (a unit is
// required; bit units are divided by 8).
Expected<double> parse_bandwidth(const std::string& text);
// Seconds from "5ms", "20us", "1.5s", "100ns" (a unit is required).
Expected<double> parse_duration(const std::string& text);

// "512 B", "400.0 MiB", "1.50 GiB": binary units, three significant digits.
std::string format_bytes(uint64_t bytes);
// "100.0 Mbit/s", "8.00 Gbit/s": bits per second, as links are usually described.
std::string format_bandwidth(double bytes_per_s);
// "20.0 us", "5.00 ms", "1.50 s".
std::string format_duration(double seconds);

}  // namespace lingua
