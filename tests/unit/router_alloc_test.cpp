// route_request() runs per request and must not allocate. Counting replacements of the global
// operator new/delete make that checkable (they only count while a test asks them to).
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "tests/unit/test_support.hpp"

namespace {
thread_local bool g_counting = false;
thread_local size_t g_allocations = 0;
}  // namespace

// GCC's -Wmismatched-new-delete cannot see that these replacements pair malloc with free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace strait::controller::testing {
namespace {

TEST(RouterAlloc, RouteRequestDoesNotAllocate) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "a", "foo.bar.com", {{"/aaa/bbb"}, {"/x", "Exact"}}));
  store.upsert(make_ingress("default", "b", "*.bar.com", {{"/"}}));
  store.upsert(make_ingress("default", "c", "", {{"/c"}}));
  Translation t = translate(store, {});
  const std::string long_host(400, 'a');
  const std::vector<std::string_view> hosts = {"foo.bar.com", "FOO.BAR.COM:8080", "x.bar.com.",
                                               "none.org",    "[fd00::1]:80",     long_host};
  const std::vector<std::string_view> paths = {"/", "/aaa/bbb/ccc/ddd", "/x", "/c/d",
                                               "",  "/aaa//bbb//"};
  g_counting = true;
  g_allocations = 0;
  int64_t sum = 0;
  for (std::string_view host : hosts) {
    for (std::string_view path : paths) {
      sum += route_request(*t.snapshot, host, path).backend;
    }
  }
  g_counting = false;
  EXPECT_EQ(g_allocations, 0u);
  EXPECT_NE(sum, 12345);  // keep the calls observable
}

}  // namespace
}  // namespace strait::controller::testing
