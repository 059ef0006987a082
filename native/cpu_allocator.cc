// Large CPU blocks are mapped once and reused by size, as PyTorch's CUDA caching allocator does for GPU
// memory. A training step allocates the same activation and gradient sizes every iteration; served by
// glibc's heap, which Node's own small allocations share, those blocks fragmented it: the heap kept
// growing and every step faulted in 10-40 k fresh pages (~7-10 µs each on this project's VMs), where the
// Python process faulted none. Blocks here are private mappings, so small allocations never pin them.
#include "cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace hipfrac {
namespace {

constexpr size_t kMinCached = size_t(1) << 20;
constexpr size_t kHugePageMin = size_t(4) << 20;

// Rounds up to 1/16 of the size's power of two (at most 6.25 % slack), so that nearby sizes (a last
// batch, another image size) share blocks.
size_t bucketSize(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  const size_t step = std::max<size_t>(p / 16, 4096);
  return (n + step - 1) / step * step;
}

struct Block {
  void* ptr;
  size_t size;
};

struct CacheState {
  std::mutex mutex;
  std::unordered_map<void*, size_t> live;  // block → its size, for the deleter
  // Cached blocks, least recently freed first: a full cache evicts what the current workload no longer uses
  // (after training a large model, the next model's sizes stay cached instead of the oldest model's).
  std::list<Block> lru;
  std::unordered_map<size_t, std::deque<std::list<Block>::iterator>> free;  // size → its blocks, oldest first
  size_t allocated = 0;
  size_t cached = 0;
  size_t limit = 0;
  size_t hits = 0;
  size_t misses = 0;
};

// Never destroyed: tensors may be freed by static destructors after this file's would have run.
CacheState& state() {
  static auto* s = new CacheState();
  return *s;
}

c10::Allocator* gFallback = nullptr;
c10::DeleterFnPtr gFallbackRawDelete = nullptr;

void unmapAll(std::vector<Block>& blocks) {
  for (const Block& b : blocks) munmap(b.ptr, b.size);
  blocks.clear();
}

// Takes cached blocks out, least recently freed first, until `need` more bytes fit under the limit (caller
// holds the lock). The globally oldest block is also the oldest of its size class, the front of its queue.
void evictFor(CacheState& s, size_t need, std::vector<Block>& out) {
  while (s.cached + need > s.limit && !s.lru.empty()) {
    const Block oldest = s.lru.front();
    auto q = s.free.find(oldest.size);
    q->second.pop_front();
    if (q->second.empty()) s.free.erase(q);
    s.lru.pop_front();
    s.cached -= oldest.size;
    out.push_back(oldest);
  }
}

void cacheBlock(CacheState& s, void* p, size_t size) {
  s.lru.push_back({p, size});
  s.free[size].push_back(std::prev(s.lru.end()));
  s.cached += size;
}

// The most recently freed block of this size (warmest in the CPU caches), or nullptr.
void* takeCached(CacheState& s, size_t size) {
  auto q = s.free.find(size);
  if (q == s.free.end()) return nullptr;
  auto block = q->second.back();
  q->second.pop_back();
  if (q->second.empty()) s.free.erase(q);
  void* p = block->ptr;
  s.lru.erase(block);
  s.cached -= size;
  return p;
}

void release(void* p) {
  if (p == nullptr) return;
  CacheState& s = state();
  std::vector<Block> unmap;
  bool ours = false;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.live.find(p);
    if (it != s.live.end()) {
      ours = true;
      const size_t size = it->second;
      s.live.erase(it);
      s.allocated -= size;
      if (size > s.limit) {
        unmap.push_back({p, size});
      } else {
        evictFor(s, size, unmap);
        cacheBlock(s, p, size);
      }
    }
  }
  // A small block from the default allocator, freed through raw_deleter() (oneDNN's ideep does this).
  if (!ours) gFallbackRawDelete(p);
  unmapAll(unmap);
}

void* mapBlock(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Transparent huge pages where the kernel offers them on request: the first step of an EfficientNet-B0
  // batch-32 training run faulted 42 k pages instead of 926 k (8.3-9.7 s instead of 10.3-10.8 s).
  if (size >= kHugePageMin) madvise(p, size, MADV_HUGEPAGE);
  return p;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  // LibTorch 1.13 declares allocate() const and later releases non-const: defining both overrides whichever
  // this LibTorch's base class declares (hence no `override`).
  c10::DataPtr allocate(size_t nbytes) const { return allocateBlock(nbytes); }
  c10::DataPtr allocate(size_t nbytes) { return allocateBlock(nbytes); }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // LibTorch 2.x declares this pure virtual; 1.13 does not have it.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  static c10::DataPtr allocateBlock(size_t nbytes) {
    if (nbytes < kMinCached) return gFallback->allocate(nbytes);
    const size_t size = bucketSize(nbytes);
    CacheState& s = state();
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      p = takeCached(s, size);
      if (p != nullptr) s.hits++;
      else s.misses++;
    }
    if (p == nullptr) p = mapBlock(size);
    if (p == nullptr) {
      // Out of address space or memory: give the cache back and try once more.
      emptyCpuCache();
      p = mapBlock(size);
    }
    TORCH_CHECK(p != nullptr, "hipfrac CPU allocator: out of memory allocating ", nbytes, " bytes (", strerror(errno), ")");
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.live.emplace(p, size);
      s.allocated += size;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
};

size_t defaultLimit() {
  if (const char* mb = std::getenv("HIPFRAC_CPU_CACHE_MB"); mb != nullptr && *mb != '\0') {
    return static_cast<size_t>(std::strtoull(mb, nullptr, 10)) << 20;
  }
  // Half the machine: the cache only ever holds blocks the process has already used at once.
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long pageSize = sysconf(_SC_PAGESIZE);
  return pages > 0 && pageSize > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(pageSize) / 2 : size_t(4) << 30;
}

}  // namespace

void installCpuCachingAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* off = std::getenv("HIPFRAC_CPU_CACHE"); off != nullptr && std::strcmp(off, "0") == 0) return;
    state().limit = defaultLimit();
    gFallback = c10::GetCPUAllocator();
    gFallbackRawDelete = gFallback->raw_deleter();
    static auto* allocator = new CachingCpuAllocator();
    // Priority above the default registration, so it stays in place.
    c10::SetCPUAllocator(allocator, /*priority=*/10);
  });
}

CpuCacheStats cpuCacheStats() {
  CacheState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return {s.allocated, s.cached, s.limit, s.hits, s.misses};
}

void emptyCpuCache() {
  CacheState& s = state();
  std::vector<Block> unmap;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    unmap.assign(s.lru.begin(), s.lru.end());
    s.lru.clear();
    s.free.clear();
    s.cached = 0;
  }
  unmapAll(unmap);
}

}  // namespace hipfrac
