// An HTTP/2 request's fields turned into the ParsedRequest routing and the upstream writer use:
// authority rules (RFC 9113 8.3.1), cookie joining (8.2.3), the decoded-list cap (HPACK bomb),
// body framing, and the characters that must never reach an HTTP/1 request line.
#include "proxy/h2_request.hpp"

#include <gtest/gtest.h>

#include "proxy/head_writer.hpp"

namespace strait::proxy {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Built {
  H2RequestHeaders headers;
  ParsedRequest request;
};

std::unique_ptr<Built> build(const Fields& fields, bool end_stream = true,
                             size_t max_list = 65536) {
  auto b = std::make_unique<Built>();
  b->headers.reset(max_list, kMaxHeaders);
  for (const auto& [n, v] : fields) b->headers.add(n, v);
  b->headers.build(end_stream, b->request);
  return b;
}

Fields get(const std::string& path, Fields extra = {}) {
  Fields f = {
      {":method", "GET"}, {":scheme", "https"}, {":authority", "a.example"}, {":path", path}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

TEST(H2Request, BuildsWhatTheHttp1ParserWould) {
  auto b = build(get("/p/x?q=1", {{"accept", "*/*"}}));
  const ParsedRequest& r = b->request;
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.authority, "a.example");
  EXPECT_EQ(r.path, "/p/x");
  EXPECT_EQ(r.origin_target, "/p/x?q=1");
  EXPECT_TRUE(r.idempotent);
  EXPECT_EQ(r.framing, BodyFraming::None);
  std::string out;
  write_upstream_request_head(r, {"10.0.0.1", "443", "https", "0123456789abcdef0123456789abcdef"},
                              r.framing, 0, out);
  EXPECT_EQ(out.rfind("GET /p/x?q=1 HTTP/1.1\r\nHost: a.example\r\naccept: */*\r\n", 0), 0u) << out;
}

TEST(H2Request, HostFieldMustAgreeWithAuthority) {
  EXPECT_EQ(build(get("/", {{"host", "a.example"}}))->request.status, ParseStatus::Complete);
  auto bad = build(get("/", {{"host", "b.example"}}));
  EXPECT_EQ(bad->request.status, ParseStatus::Error);
  EXPECT_EQ(bad->request.error_status, 400);
  // Without :authority the host field routes.
  auto host_only =
      build({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.example"}});
  ASSERT_EQ(host_only->request.status, ParseStatus::Complete);
  EXPECT_EQ(host_only->request.authority, "h.example");
  auto neither = build({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}});
  EXPECT_EQ(neither->request.error_status, 400);
}

TEST(H2Request, CookiesAreJoinedForHttp11) {
  auto b = build(get("/", {{"cookie", "a=1"}, {"x", "y"}, {"cookie", "b=2"}}));
  ASSERT_EQ(b->request.status, ParseStatus::Complete);
  int cookies = 0;
  for (size_t i = 0; i < b->request.header_count; ++i) {
    if (b->request.headers[i].name != "cookie") continue;
    ++cookies;
    EXPECT_EQ(b->request.headers[i].value, "a=1; b=2");
  }
  EXPECT_EQ(cookies, 1);
}

TEST(H2Request, LongCookiesKeepEveryOtherViewValid) {
  // Joining cookies must not move the bytes the method, path and authority views point into
  // (a reallocation here was a use-after-free that AddressSanitizer reports).
  std::string a(300, 'a'), b(5000, 'b');
  auto built = build(get("/long/path/for/views", {{"cookie", "a=" + a}, {"cookie", "b=" + b}}));
  ASSERT_EQ(built->request.status, ParseStatus::Complete) << built->request.error;
  EXPECT_EQ(built->request.method, "GET");
  EXPECT_EQ(built->request.path, "/long/path/for/views");
  EXPECT_EQ(built->request.authority, "a.example");
  std::string joined;
  for (size_t i = 0; i < built->request.header_count; ++i)
    if (built->request.headers[i].name == "cookie") joined = built->request.headers[i].value;
  EXPECT_EQ(joined, "a=" + a + "; b=" + b);
  // Many small crumbs count as one field, not one each.
  Fields crumbs = get("/");
  for (size_t i = 0; i < kMaxHeaders + 20; ++i) crumbs.push_back({"cookie", "c=1"});
  EXPECT_EQ(build(crumbs)->request.status, ParseStatus::Complete);
}

TEST(H2Request, OnlyHttpSchemesAndOriginFormPaths) {
  Fields other = {{":method", "GET"}, {":scheme", "ftp"}, {":authority", "a"}, {":path", "/"}};
  EXPECT_EQ(build(other)->request.error_status, 400);
  // With an unusual scheme nghttp2 lets any :path through; strait never routes on one.
  Fields absolute = {{":method", "GET"},
                     {":scheme", "foo"},
                     {":authority", "a.example"},
                     {":path", "http://evil.example/admin"}};
  EXPECT_EQ(build(absolute)->request.error_status, 400);
  Fields star = {{":method", "OPTIONS"}, {":scheme", "https"}, {":authority", "a"}, {":path", "*"}};
  EXPECT_EQ(build(star)->request.status, ParseStatus::Complete);
}

TEST(H2Request, DecodedListOverTheLimitIs431) {
  Fields many = get("/");
  for (int i = 0; i < 40; ++i) many.push_back({"x-big", std::string(4000, 'a')});
  auto b = build(many);
  EXPECT_TRUE(b->headers.too_large());
  EXPECT_EQ(b->request.error_status, 431);
  Fields count = get("/");
  for (size_t i = 0; i < kMaxHeaders + 1; ++i) count.push_back({"x-n", "1"});
  EXPECT_EQ(build(count)->request.error_status, 431);
}

TEST(H2Request, BodyFramingFollowsEndStreamAndContentLength) {
  Fields post = {{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}};
  EXPECT_EQ(build(post, true)->request.framing, BodyFraming::None);
  EXPECT_EQ(build(post, false)->request.framing, BodyFraming::Chunked);
  Fields with_length = post;
  with_length.push_back({"content-length", "12"});
  auto b = build(with_length, false);
  EXPECT_EQ(b->request.framing, BodyFraming::Length);
  EXPECT_EQ(b->request.content_length, 12u);
  with_length.back().second = "12x";
  EXPECT_EQ(build(with_length, false)->request.error_status, 400);
}

TEST(H2Request, NothingThatCouldSplitAnHttp1RequestLine) {
  for (const char* path : {"/a b", "/a\tb", "/a\x7f"})
    EXPECT_EQ(build(get(path))->request.error_status, 400) << path;
  EXPECT_EQ(build(get("/%zz"))->request.error_status, 400);  // invalid escape, as HTTP/1
  EXPECT_EQ(build(get("/a#frag"))->request.error_status, 400);
  auto connect = build({{":method", "CONNECT"}, {":authority", "a:443"}});
  EXPECT_EQ(connect->request.error_status, 405);
  auto no_scheme = build({{":method", "GET"}, {":authority", "a"}, {":path", "/"}});
  EXPECT_EQ(no_scheme->request.error_status, 400);
}

}  // namespace
}  // namespace strait::proxy
