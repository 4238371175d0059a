// What this machine's memory holds free: the planner's device profile and the huge-page copy of
// weights both ask before they count on it.
#pragma once
#include <cstdint>

namespace lingua {

// MemAvailable from /proc/meminfo (free memory plus what the kernel can reclaim), 0 if unknown.
uint64_t available_memory_bytes();

// RssAnon from /proc/self/status: this process's anonymous memory (heap, KV caches, weights copied
// into huge pages), which a memory limit cannot reclaim as it can file pages; 0 if unknown.
uint64_t process_anonymous_bytes();

}  // namespace lingua
