#include "proxy/head_writer.hpp"

#include <gtest/gtest.h>

#include "proxy/body_forwarder.hpp"

namespace strait::proxy {
namespace {

ParsedRequest parse(const std::string& text) {
  ParsedRequest r;
  parse_request(text.data(), text.size(), HeadLimits{}, r);
  EXPECT_EQ(r.status, ParseStatus::Complete) << r.error;
  return r;
}

TEST(UpstreamRequestHead, RewritesForwardedAndDropsHopByHop) {
  std::string text =
      "POST /p?q=1 HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Secret\r\n"
      "X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nHTTP2-Settings: x\r\n"
      "Proxy-Connection: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n"
      "X-Real-IP: 6.6.6.6\r\nExpect: 100-continue\r\nContent-Length: 3\r\nAccept: */*\r\n\r\n";
  ParsedRequest r = parse(text);
  std::string out;
  write_upstream_request_head(r, {"10.1.2.3", "8080", "http", "0123456789abcdef0123456789abcdef"},
                              BodyFraming::Length, 3, out);
  EXPECT_EQ(out.rfind("POST /p?q=1 HTTP/1.1\r\nHost: app.example\r\n", 0), 0u) << out;
  for (const char* gone :
       {"Connection", "X-Secret", "Keep-Alive", "TE:", "Upgrade", "HTTP2-Settings",
        "Proxy-Connection", "Expect", "6.6.6.6\r\nX-Forwarded-Host: evil"}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << "\n" << out;
  }
  for (const char* present :
       {"Accept: */*\r\n", "X-Request-ID: 0123456789abcdef0123456789abcdef\r\n",
        "X-Real-IP: 10.1.2.3\r\n", "X-Forwarded-For: 10.1.2.3\r\n",
        "X-Forwarded-Host: app.example\r\n", "X-Forwarded-Port: 8080\r\n",
        "X-Forwarded-Proto: http\r\n", "X-Forwarded-Scheme: http\r\n",
        "X-Original-Forwarded-For: 6.6.6.6\r\n", "X-Original-Forwarded-Host: evil\r\n",
        "Content-Length: 3\r\n\r\n"}) {
    EXPECT_NE(out.find(present), std::string::npos) << present << "\n" << out;
  }
}

TEST(UpstreamRequestHead, KeepsClientRequestId) {
  const std::string text = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: mine\r\n\r\n";
  ParsedRequest r = parse(text);
  std::string out;
  write_upstream_request_head(r, {"1.1.1.1", "80", "http", "generated"}, BodyFraming::None, 0, out);
  EXPECT_NE(out.find("X-Request-ID: mine\r\n"), std::string::npos);
  EXPECT_EQ(out.find("generated"), std::string::npos);
}

TEST(ClientResponseHead, AddsServerAndDateReframes) {
  std::string text =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nX-A: b\r\n\r\n";
  ParsedResponse resp;
  parse_response(text.data(), text.size(), HeadLimits{}, false, resp);
  ASSERT_EQ(resp.status, ParseStatus::Complete);
  std::string out;
  write_client_response_head(resp, BodyFraming::Chunked, 0, false, false, "DATE", "", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: strait\r\nDate: DATE\r\nTransfer-Encoding: "
            "chunked\r\n\r\n");
}

TEST(ClientResponseHead, KeepsUpstreamServerDateAndHeadLength) {
  std::string text = "HTTP/1.1 200 OK\r\nServer: app\r\nDate: D\r\nContent-Length: 42\r\n\r\n";
  ParsedResponse resp;
  parse_response(text.data(), text.size(), HeadLimits{}, true, resp);
  std::string out;
  write_client_response_head(resp, BodyFraming::None, 0, true, false, "X", "", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nServer: app\r\nDate: D\r\nContent-Length: 42\r\nConnection: "
            "close\r\n\r\n");
}

TEST(LocalResponse, ContentLengthMatchesBody) {
  std::string out;
  write_local_response(404, false, false, "D", out);
  size_t head_end = out.find("\r\n\r\n") + 4;
  size_t cl = out.find("Content-Length: ") + 16;
  EXPECT_EQ(std::stoul(out.substr(cl)), out.size() - head_end);
  EXPECT_NE(out.find("404 Not Found"), std::string::npos);
}

std::string flatten(const BodyForwarder& f) {
  std::string s;
  for (const auto& b : f.buffers()) s.append(static_cast<const char*>(b.data()), b.size());
  return s;
}

TEST(BodyForwarder, ReframesChunkedDroppingExtensionsAndTrailers) {
  BodyForwarder f;
  f.reset(BodyFraming::Chunked, 0, true);
  std::string in = "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  ASSERT_TRUE(f.prepare(in.data(), in.size()));
  EXPECT_TRUE(f.done());
  EXPECT_EQ(flatten(f), "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(f.consumed(), in.size() - 4);  // the next request stays unread
}

TEST(BodyForwarder, ContentLengthStopsAtLength) {
  BodyForwarder f;
  f.reset(BodyFraming::Length, 4, false);
  std::string in = "abcdefg";
  ASSERT_TRUE(f.prepare(in.data(), in.size()));
  EXPECT_EQ(flatten(f), "abcd");
  EXPECT_TRUE(f.done());
}

TEST(BodyForwarder, UntilCloseToChunked) {
  BodyForwarder f;
  f.reset(BodyFraming::UntilClose, 0, true);
  std::string in = "xyz";
  ASSERT_TRUE(f.prepare(in.data(), in.size()));
  EXPECT_EQ(flatten(f), "3\r\nxyz\r\n");
  EXPECT_FALSE(f.done());
  f.finish_at_eof();
  EXPECT_EQ(flatten(f), "0\r\n\r\n");
  EXPECT_TRUE(f.done());
}

}  // namespace
}  // namespace strait::proxy

namespace strait::proxy {
namespace {

TEST(ClientResponseHead, AddsHstsWhenAsked) {
  std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ParsedResponse resp;
  parse_response(text.data(), text.size(), HeadLimits{}, false, resp);
  std::string out;
  write_client_response_head(resp, BodyFraming::None, 0, false, false, "D", "max-age=1", out);
  EXPECT_NE(out.find("Strict-Transport-Security: max-age=1\r\n"), std::string::npos) << out;
}

TEST(LocalResponse, RedirectCarriesLocation) {
  std::string out;
  write_redirect_response(308, "https://a.example/x?y", false, false, "D", out);
  EXPECT_EQ(out.rfind("HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a.example/x?y\r\n", 0),
            0u)
      << out;
}

}  // namespace
}  // namespace strait::proxy
