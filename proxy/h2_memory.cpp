#include "proxy/h2_memory.hpp"

#include <nghttp2/nghttp2.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STRAIT_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define STRAIT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STRAIT_POISON(p, n) ((void)(p), (void)(n))
#define STRAIT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace strait::proxy {
namespace {

// Block sizes (header included), powers of two and the halves between them: at most a third
// of a block is slack. Larger requests are not cached: nghttp2's outbound frame buffer (16 KiB
// and a frame header, made once per session and held for its life) would take a 24 KiB block,
// 8 KiB of slack in every HTTP/2 connection.
constexpr size_t kClassSizes[] = {64,   96,   128,  192,  256,  384,  512,   768,  1024,
                                  1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384};
constexpr size_t kClasses = std::size(kClassSizes);
constexpr uint32_t kUncached = UINT32_MAX;
// What one class may keep. Blocks are only ever kept after being in use, so this bounds the
// memory a burst leaves behind, not what the worker needs.
constexpr size_t kBytesPerClass = 1 << 20;
// In front of every block: its class (16 bytes keep the payload aligned as malloc's is).
constexpr size_t kHeader = 16;

struct FreeBlock {
  FreeBlock* next;
};

struct Header {
  uint32_t size_class;
};

// Trivially destructible: valid for the whole life of the thread, also after Guard ran.
struct ThreadCache {
  FreeBlock* heads[kClasses];
  uint32_t counts[kClasses];
  bool armed;  // this thread's Guard is registered: whatever the cache keeps is freed at exit
  bool dead;   // Guard ran
};
thread_local ThreadCache cache{};

// Empties the cache at thread exit (destroyed before `cache`'s storage goes away).
struct Guard {
  bool armed = false;
  ~Guard() {
    for (size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = cache.heads[c]) {
        STRAIT_UNPOISON(b, kClassSizes[c]);
        cache.heads[c] = b->next;
        std::free(b);
      }
      cache.counts[c] = 0;
    }
    cache.dead = true;
  }
};
thread_local Guard guard;

// The smallest class that holds `total` bytes, kClasses when none does. Classes alternate
// 2^b and 3 * 2^(b-1): from the power of two at or above `total`, step back to the 3/4 class
// when that is enough.
size_t class_of(size_t total) {
  if (total <= kClassSizes[0]) return 0;
  int b = std::bit_width(total - 1);  // 2^b >= total > 2^(b-1), b >= 7
  size_t c = 2 * static_cast<size_t>(b - 6);
  if (total <= (size_t{3} << (b - 2))) --c;
  return c < kClasses ? c : kClasses;
}

void* give(char* block, uint32_t size_class) {
  reinterpret_cast<Header*>(block)->size_class = size_class;
  return block + kHeader;
}

}  // namespace

namespace h2_memory {

void* allocate(size_t size) {
  size_t c = class_of(size + kHeader);
  if (c == kClasses) {
    void* block = std::malloc(size + kHeader);
    if (block == nullptr) throw std::bad_alloc();
    return give(static_cast<char*>(block), kUncached);
  }
  if (FreeBlock* b = cache.heads[c]) {
    STRAIT_UNPOISON(b, kClassSizes[c]);
    cache.heads[c] = b->next;
    --cache.counts[c];
    return give(reinterpret_cast<char*>(b), static_cast<uint32_t>(c));
  }
  if (!cache.armed) {
    guard.armed = true;  // odr-use: registers the thread-exit cleanup
    cache.armed = true;
  }
  void* block = std::malloc(kClassSizes[c]);
  if (block == nullptr) throw std::bad_alloc();
  return give(static_cast<char*>(block), static_cast<uint32_t>(c));
}

void deallocate(void* p) noexcept {
  if (p == nullptr) return;
  char* block = static_cast<char*>(p) - kHeader;
  uint32_t c = reinterpret_cast<Header*>(block)->size_class;
  // Only a thread that allocates from its cache keeps blocks: one that merely frees them (the
  // thread destroying a stopped worker's io_context and the operations still queued in it) has
  // no thread-exit cleanup, and what it kept would never be freed.
  if (c == kUncached || !cache.armed || cache.dead ||
      cache.counts[c] * kClassSizes[c] >= kBytesPerClass) {
    std::free(block);
    return;
  }
  auto* b = reinterpret_cast<FreeBlock*>(block);
  b->next = cache.heads[c];
  cache.heads[c] = b;
  ++cache.counts[c];
  STRAIT_POISON(b, kClassSizes[c]);
}

size_t cached_blocks() {
  size_t n = 0;
  for (size_t c = 0; c < kClasses; ++c) n += cache.counts[c];
  return n;
}

}  // namespace h2_memory

namespace {

// nghttp2 expects malloc's contract: null on failure, never an exception.
void* mem_malloc(size_t size, void*) {
  try {
    return h2_memory::allocate(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void mem_free(void* p, void*) {
  h2_memory::deallocate(p);
}

void* mem_calloc(size_t n, size_t size, void*) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = mem_malloc(n * size, nullptr);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}

void* mem_realloc(void* p, size_t size, void*) {
  if (p == nullptr) return mem_malloc(size, nullptr);
  if (size == 0) {
    mem_free(p, nullptr);
    return nullptr;
  }
  char* block = static_cast<char*>(p) - kHeader;
  uint32_t c = reinterpret_cast<Header*>(block)->size_class;
  if (c != kUncached && size + kHeader <= kClassSizes[c]) return p;  // still fits its block
  if (c == kUncached) {
    // Its old size is unknown here: let realloc move it (the header moves with it).
    void* moved = std::realloc(block, size + kHeader);
    if (moved == nullptr) return nullptr;
    return static_cast<char*>(moved) + kHeader;
  }
  void* q = mem_malloc(size, nullptr);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, kClassSizes[c] - kHeader);
  mem_free(p, nullptr);
  return q;
}

}  // namespace

nghttp2_mem* h2_thread_mem() {
  static nghttp2_mem mem{nullptr, mem_malloc, mem_free, mem_calloc, mem_realloc};
  return &mem;
}

}  // namespace strait::proxy
