// The HTTP/2 path's per-worker recycling: the block cache behind nghttp2_mem and
// allocate_shared, and recycled ParsedRequest objects (a reused one must look fresh).
#include "proxy/h2_memory.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/h2_request.hpp"

namespace strait::proxy {
namespace {

TEST(H2Memory, BlocksOfEverySizeAreUsableAndRecycled) {
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  for (size_t size : {size_t{1}, size_t{48}, size_t{49}, size_t{100}, size_t{1000}, size_t{4500},
                      size_t{16368}, size_t{16369}, size_t{100000}}) {
    auto* p = static_cast<unsigned char*>(h2_memory::allocate(size));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << size;
    std::memset(p, 0xab, size);
    blocks.emplace_back(p, size);
  }
  for (auto& [p, size] : blocks) {
    for (size_t i = 0; i < size; ++i) ASSERT_EQ(p[i], 0xab) << size;
    h2_memory::deallocate(p);
  }
  // The most recently freed block of a class is the next one handed out.
  void* a = h2_memory::allocate(700);
  h2_memory::deallocate(a);
  void* b = h2_memory::allocate(650);  // same class (768 with the header)
  EXPECT_EQ(a, b);
  h2_memory::deallocate(b);
  h2_memory::deallocate(nullptr);
}

TEST(H2Memory, AThreadThatOnlyFreesKeepsNothing) {
  // A stopped worker's queued operations are destroyed by whichever thread destroys the worker:
  // that thread never allocated from its cache, has no exit cleanup, and must not keep blocks.
  void* block = h2_memory::allocate(200);
  size_t kept_by_freeing_thread = 1;
  std::thread([&] {
    h2_memory::deallocate(block);
    kept_by_freeing_thread = h2_memory::cached_blocks();
  }).join();
  EXPECT_EQ(kept_by_freeing_thread, 0u);
  // The allocating thread keeps what it frees.
  const size_t before = h2_memory::cached_blocks();
  h2_memory::deallocate(h2_memory::allocate(200));
  EXPECT_EQ(h2_memory::cached_blocks(), before + 1);
}

TEST(H2Memory, NghttpAllocatorKeepsMallocsContract) {
  nghttp2_mem* mem = h2_thread_mem();
  // A dirty recycled block comes back zeroed from calloc.
  void* dirty = mem->malloc(200, mem->mem_user_data);
  std::memset(dirty, 0xff, 200);
  mem->free(dirty, mem->mem_user_data);
  auto* z = static_cast<unsigned char*>(mem->calloc(10, 20, mem->mem_user_data));
  for (int i = 0; i < 200; ++i) ASSERT_EQ(z[i], 0) << i;
  // realloc keeps the content while growing through classes and beyond them.
  auto* r = static_cast<unsigned char*>(mem->realloc(z, 100, mem->mem_user_data));
  for (int i = 0; i < 100; ++i) r[i] = static_cast<unsigned char>(i);
  for (size_t size : {size_t{150}, size_t{3000}, size_t{30000}, size_t{70000}, size_t{64}}) {
    r = static_cast<unsigned char*>(mem->realloc(r, size, mem->mem_user_data));
    ASSERT_NE(r, nullptr);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(r[i], i) << size;
  }
  EXPECT_EQ(mem->realloc(r, 0, mem->mem_user_data), nullptr);  // frees
  void* fresh = mem->realloc(nullptr, 10, mem->mem_user_data);
  ASSERT_NE(fresh, nullptr);
  mem->free(fresh, mem->mem_user_data);
  EXPECT_EQ(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data), nullptr);  // overflow
}

struct Counted {
  explicit Counted(int& c) : count(c) { ++count; }
  ~Counted() { --count; }
  int& count;
  char payload[5000];
};

TEST(H2Memory, AllocateSharedThroughTheCache) {
  int live = 0;
  {
    auto p = std::allocate_shared<Counted>(RecyclingAllocator<Counted>(), live);
    EXPECT_EQ(live, 1);
    std::weak_ptr<Counted> w = p;
    p.reset();
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(w.expired());
  }
  RecycledString s("a string longer than the small-string buffer", RecyclingAllocator<char>());
  s.append(2000, 'x');
  EXPECT_EQ(s.size(), 2044u);
}

TEST(H2Memory, RecycledRequestIsResetWhenReused) {
  {
    RecycledRequest first;
    ParsedRequest& r = first.get();
    EXPECT_EQ(r.status, ParseStatus::Incomplete);
    r.status = ParseStatus::Error;
    r.error_status = 431;
    r.error = "x";
    r.head_size = 7;
    r.version_minor = 0;
    r.header_count = 3;
    r.framing = BodyFraming::Chunked;
    r.content_length = 9;
    r.keep_alive = false;
    r.host_index = 1;
    r.connection_tokens[0] = "te";
    r.connection_token_count = 1;
    r.method = "GET";
    r.target = r.authority = r.path = r.origin_target = "/x";
    r.expect_continue = r.upgrade_websocket = r.idempotent = r.head_method = true;
  }
  RecycledRequest second;
  const ParsedRequest& r = second.get();
  const ParsedRequest fresh{};
  EXPECT_EQ(r.status, fresh.status);
  EXPECT_EQ(r.error_status, fresh.error_status);
  EXPECT_STREQ(r.error, fresh.error);
  EXPECT_EQ(r.head_size, fresh.head_size);
  EXPECT_EQ(r.version_minor, fresh.version_minor);
  EXPECT_EQ(r.header_count, fresh.header_count);
  EXPECT_EQ(r.framing, fresh.framing);
  EXPECT_EQ(r.content_length, fresh.content_length);
  EXPECT_EQ(r.keep_alive, fresh.keep_alive);
  EXPECT_EQ(r.host_index, fresh.host_index);
  EXPECT_TRUE(r.connection_tokens[0].empty());
  EXPECT_EQ(r.connection_token_count, fresh.connection_token_count);
  EXPECT_TRUE(r.method.empty() && r.target.empty() && r.authority.empty() && r.path.empty() &&
              r.origin_target.empty());
  EXPECT_FALSE(r.expect_continue || r.upgrade_websocket || r.idempotent || r.head_method);
}

}  // namespace
}  // namespace strait::proxy
