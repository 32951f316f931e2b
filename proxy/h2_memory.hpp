// Per-worker memory recycling for the HTTP/2 data path, and for the Asio operations of the
// HTTP/1 one (ClientConnection and UpstreamConnection reads and writes use recycled() too).
//
// Every HTTP/2 request used to cost some twenty heap allocations: its Http2Stream (about 5 KB,
// too big for glibc's per-thread cache, so each one went through _int_malloc/_int_free and
// malloc_consolidate) and nghttp2's own small objects (stream, outbound items, header copies),
// which arrive in bursts of hundreds per event-loop pass, more than glibc's tcache keeps (7 per
// size). A worker is one thread, so its freed blocks can be kept and handed out again without
// locks: `H2BlockCache` (size classes behind a 16-byte header, bounded bytes per class) serves
// nghttp2 through nghttp2_mem, and `RecyclingAllocator` gives std::allocate_shared the same cache
// for Http2Stream.
//
// Cached blocks are poisoned under AddressSanitizer, so a use after free of a recycled stream or
// nghttp2 object is still reported. At thread exit the cache is emptied; frees after that (a
// thread_local registry destroyed later) go straight to free(), and so do frees on a thread that
// never allocated from its cache (operations left in a stopped worker's io_context, destroyed by
// the thread that destroys the worker).
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/bind_allocator.hpp>
#include <cstddef>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace strait::proxy {

namespace h2_memory {
void* allocate(size_t size);
void deallocate(void* p) noexcept;
// Blocks this thread's cache holds (for tests).
size_t cached_blocks();
}  // namespace h2_memory

// nghttp2's allocator on this thread's cache (for nghttp2_session_*_new3).
nghttp2_mem* h2_thread_mem();

// For std::allocate_shared: the control block and the object in one recycled block.
template <typename T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <typename U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(h2_memory::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { h2_memory::deallocate(p); }
  template <typename U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;
  }
};

// An Asio completion handler whose operation is allocated from the cache: Asio's own per-thread
// recycling keeps two blocks, far fewer than the operations a busy worker has in flight.
template <typename Handler>
auto recycled(Handler&& handler) {
  return boost::asio::bind_allocator(RecyclingAllocator<void>(), std::forward<Handler>(handler));
}

// Per-exchange buffers from the same cache.
using RecycledString = std::basic_string<char, std::char_traits<char>, RecyclingAllocator<char>>;
template <typename T>
using RecycledVector = std::vector<T, RecyclingAllocator<T>>;

}  // namespace strait::proxy
