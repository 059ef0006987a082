// A caching allocator for large CPU tensors, installed as LibTorch's CPU allocator.
#pragma once

#include <cstddef>

namespace hipfrac {

struct CpuCacheStats {
  size_t allocatedBytes;  // in tensors now (blocks handed out by this allocator)
  size_t cachedBytes;     // freed blocks kept mapped for reuse
  size_t limitBytes;      // most the cache keeps
  size_t hits;            // allocations served from the cache
  size_t misses;          // allocations that mapped a new block
};

// Installs the allocator (once per process). Allocations under 1 MiB stay with LibTorch's default.
// HIPFRAC_CPU_CACHE=0 leaves LibTorch's allocator alone; HIPFRAC_CPU_CACHE_MB sets the cache limit.
void installCpuCachingAllocator();
CpuCacheStats cpuCacheStats();
// Unmaps every cached block (torch.cuda.empty_cache's counterpart for host memory).
void emptyCpuCache();

}  // namespace hipfrac
