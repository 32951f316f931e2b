// The request parser is the first line of defence: every row here is a smuggling or parsing
// case from ../shared/reference/http-hardening.md (RFC 9110/9112) with the status strait answers.
#include "proxy/http1_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace strait::proxy {
namespace {

ParsedRequest parse(const std::string& text) {
  ParsedRequest r;
  parse_request(text.data(), text.size(), HeadLimits{}, r);
  return r;
}

struct RejectCase {
  const char* name;
  std::string request;
  int status;
};

class RejectedRequest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RejectedRequest, AnswersWithStatus) {
  ParsedRequest r = parse(GetParam().request);
  ASSERT_EQ(r.status, ParseStatus::Error) << GetParam().name;
  EXPECT_EQ(r.error_status, GetParam().status) << GetParam().name << ": " << r.error;
}

const std::string kHost = "Host: a.example\r\n";

INSTANTIATE_TEST_SUITE_P(
    Hardening, RejectedRequest,
    ::testing::Values(
        RejectCase{"te_and_cl",
                   "POST / HTTP/1.1\r\n" + kHost +
                       "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                   400},
        RejectCase{"cl_and_te",
                   "POST / HTTP/1.1\r\n" + kHost +
                       "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400},
        RejectCase{
            "te_gzip_and_cl",
            "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
            400},
        RejectCase{"te_gzip_only",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\n\r\n", 400},
        RejectCase{"chunked_not_final",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
        RejectCase{"chunked_twice",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked, chunked\r\n\r\n",
                   400},
        RejectCase{"chunked_two_lines",
                   "POST / HTTP/1.1\r\n" + kHost +
                       "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n",
                   400},
        RejectCase{"gzip_chunked",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
        RejectCase{"identity",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: identity\r\n\r\n", 501},
        RejectCase{"xchunked",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: xchunked\r\n\r\n", 501},
        RejectCase{"space_before_colon",
                   "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding : chunked\r\n\r\n", 400},
        RejectCase{"vt_in_te",
                   "POST / HTTP/1.1\r\n" + kHost +
                       "Transfer-Encoding:\x0b"
                       "chunked\r\n\r\n",
                   400},
        RejectCase{"http10_chunked", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        RejectCase{"cl_differ",
                   "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
                   400},
        RejectCase{"cl_plus", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: +5\r\n\r\n", 400},
        RejectCase{"cl_negative", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: -1\r\n\r\n",
                   400},
        RejectCase{"cl_hex", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 0x10\r\n\r\n", 400},
        RejectCase{"cl_space", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5 5\r\n\r\n", 400},
        RejectCase{"cl_empty", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: \r\n\r\n", 400},
        RejectCase{
            "cl_huge",
            "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1234567890123456789012345\r\n\r\n",
            400},
        RejectCase{"lf_only", "GET / HTTP/1.1\nHost: a\n\n", 400},
        RejectCase{"bare_cr_value", "GET / HTTP/1.1\r\n" + kHost + "X: a\rb\r\n\r\n", 400},
        RejectCase{"nul_in_value", std::string("GET / HTTP/1.1\r\nHost: a\0.b\r\n\r\n", 30), 400},
        RejectCase{"bad_name_at", "GET / HTTP/1.1\r\n" + kHost + "Foo@: v\r\n\r\n", 400},
        RejectCase{"empty_name", "GET / HTTP/1.1\r\n" + kHost + ": v\r\n\r\n", 400},
        RejectCase{"no_colon", "GET / HTTP/1.1\r\n" + kHost + "Foo bar\r\n\r\n", 400},
        RejectCase{"obs_fold", "GET / HTTP/1.1\r\n" + kHost + "X: a\r\n b\r\n\r\n", 400},
        RejectCase{"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
        RejectCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        RejectCase{"host_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        RejectCase{"host_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        RejectCase{"host_port_range", "GET / HTTP/1.1\r\nHost: x:99999\r\n\r\n", 400},
        RejectCase{"host_two_ports", "GET / HTTP/1.1\r\nHost: x:1:2\r\n\r\n", 400},
        RejectCase{"host_userinfo", "GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 400},
        RejectCase{"absolute_userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        RejectCase{"absolute_host_mismatch",
                   "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", 400},
        RejectCase{"fragment", "GET /a#frag HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"http2_version", "GET / HTTP/2.0\r\n" + kHost + "\r\n", 505},
        RejectCase{"http3_version", "GET / HTTP/3.0\r\n" + kHost + "\r\n", 505},
        RejectCase{"version_110", "GET / HTTP/1.10\r\n" + kHost + "\r\n", 400},
        RejectCase{"version_lower", "GET / http/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"version_leading_zero", "GET / HTTP/01.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"double_space", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"tab_in_line", "GET\t/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"percent_truncated", "GET /% HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"percent_short", "GET /%1 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"percent_nul", "GET /%00 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        RejectCase{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
        RejectCase{"trace", "TRACE / HTTP/1.1\r\n" + kHost + "\r\n", 405},
        RejectCase{"long_method", std::string(1024, 'A') + " / HTTP/1.1\r\n" + kHost + "\r\n", 501},
        RejectCase{"long_target",
                   "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + kHost + "\r\n", 414},
        RejectCase{"long_field",
                   "GET / HTTP/1.1\r\n" + kHost + "X: " + std::string(9000, 'a') + "\r\n\r\n", 431},
        RejectCase{"expect_other", "GET / HTTP/1.1\r\n" + kHost + "Expect: something\r\n\r\n",
                   417}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RequestParser, TooManyHeadersIs431) {
  std::string req = "GET / HTTP/1.1\r\n" + kHost;
  for (int i = 0; i < 101; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  req += "\r\n";
  ParsedRequest r = parse(req);
  ASSERT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(r.error_status, 431);
}

TEST(RequestParser, IncompleteUntilBlankLine) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n").status, ParseStatus::Incomplete);
  EXPECT_EQ(parse("GET / HT").status, ParseStatus::Incomplete);
}

TEST(RequestParser, ParsesOriginFormWithQuery) {
  // Views point into the buffer: keep it alive.
  const std::string text =
      "GET /a/b?x=1&y HTTP/1.1\r\nHost: Foo.Example:8080\r\nX-A: 1\r\n\r\nrest";
  ParsedRequest r = parse(text);
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/a/b");
  EXPECT_EQ(r.origin_target, "/a/b?x=1&y");
  EXPECT_EQ(r.authority, "Foo.Example:8080");
  EXPECT_EQ(r.header_count, 2u);
  EXPECT_EQ(r.framing, BodyFraming::None);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_TRUE(r.idempotent);
  EXPECT_EQ(
      r.head_size,
      std::string("GET /a/b?x=1&y HTTP/1.1\r\nHost: Foo.Example:8080\r\nX-A: 1\r\n\r\n").size());
}

TEST(RequestParser, AbsoluteFormRoutesByItsAuthority) {
  const std::string text = "GET http://a.example/x?q HTTP/1.1\r\nHost: a.example\r\n\r\n";
  ParsedRequest r = parse(text);
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.authority, "a.example");
  EXPECT_EQ(r.origin_target, "/x?q");
  EXPECT_EQ(r.path, "/x");
}

TEST(RequestParser, ListSyntaxAroundChunkedIsAccepted) {
  ParsedRequest r = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.framing, BodyFraming::Chunked);
  r = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked \r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.framing, BodyFraming::Chunked);
}

TEST(RequestParser, RepeatedEqualContentLengthsAreOne) {
  ParsedRequest r =
      parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.framing, BodyFraming::Length);
  EXPECT_EQ(r.content_length, 5u);
}

TEST(RequestParser, Http10KeepAliveOnlyWhenAsked) {
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
}

TEST(RequestParser, Http12IsProcessedAsHttp11) {
  ParsedRequest r = parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.version_minor, 1);
}

TEST(RequestParser, ObsTextInValueIsKeptByteExact) {
  const std::string text = "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\xa0\r\n\r\n";
  ParsedRequest r = parse(text);
  ASSERT_EQ(r.status, ParseStatus::Complete) << r.error;
  EXPECT_EQ(r.headers[1].value, "caf\xc3\xa9\xa0");
}

TEST(RequestParser, ConnectionTokensAreRemembered) {
  const std::string text = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n\r\n";
  ParsedRequest r = parse(text);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(r.connection_token_count, 1u);
  EXPECT_EQ(r.connection_tokens[0], "X-Secret");
}

ParsedResponse parse_resp(const std::string& text, bool head = false) {
  ParsedResponse r;
  parse_response(text.data(), text.size(), HeadLimits{}, head, r);
  return r;
}

TEST(ResponseParser, Framing) {
  EXPECT_EQ(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n").framing,
            BodyFraming::Length);
  EXPECT_EQ(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            BodyFraming::Chunked);
  ParsedResponse until_close = parse_resp("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(until_close.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(until_close.keep_alive);
  EXPECT_EQ(parse_resp("HTTP/1.1 204 No Content\r\n\r\n").framing, BodyFraming::None);
  EXPECT_EQ(parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing,
            BodyFraming::None);
  EXPECT_EQ(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).framing,
            BodyFraming::None);
  EXPECT_EQ(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").framing, BodyFraming::None);
  // Transfer-Encoding wins over Content-Length in a response (RFC 9112 6.3).
  EXPECT_EQ(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
                .framing,
            BodyFraming::Chunked);
}

TEST(ResponseParser, MalformedIs502) {
  for (const char* bad : {"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
                          "HTTP/1.1 200 OK\n\n", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
    ParsedResponse r = parse_resp(bad);
    EXPECT_EQ(r.status, ParseStatus::Error) << bad;
    EXPECT_EQ(r.error_status, 502) << bad;
  }
}

std::string decode_all(const std::string& input, ChunkedDecoder::Result& last) {
  ChunkedDecoder d;
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t used = 0;
    std::string_view chunk;
    last = d.next(input.data() + pos, input.size() - pos, used, chunk);
    pos += used;
    if (last == ChunkedDecoder::Result::Data) {
      out.append(chunk);
      continue;
    }
    return out;
  }
}

TEST(ChunkedDecoder, DecodesWithExtensionsAndTrailers) {
  ChunkedDecoder::Result r;
  EXPECT_EQ(decode_all("5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", r), "hello world");
  EXPECT_EQ(r, ChunkedDecoder::Result::Done);
}

TEST(ChunkedDecoder, ByteAtATime) {
  std::string input = "a\r\n0123456789\r\n0\r\n\r\n";
  ChunkedDecoder d;
  std::string out;
  ChunkedDecoder::Result r = ChunkedDecoder::Result::NeedMore;
  for (char c : input) {
    size_t used = 0;
    std::string_view chunk;
    r = d.next(&c, 1, used, chunk);
    ASSERT_NE(r, ChunkedDecoder::Result::Error);
    if (r == ChunkedDecoder::Result::Data) out.append(chunk);
  }
  EXPECT_EQ(out, "0123456789");
  EXPECT_EQ(r, ChunkedDecoder::Result::Done);
}

TEST(ChunkedDecoder, RejectsMalformedSizes) {
  for (const char* bad : {"FFFFFFFFFFFFFFFFF\r\n", "0x5\r\n", "+5\r\n", "-5\r\n", "5_\r\n",
                          " 5\r\n", "\r\n", "Z\r\n", "2\r\r;a", "a\n", "3\r\nabcX"}) {
    ChunkedDecoder::Result r;
    decode_all(bad, r);
    EXPECT_EQ(r, ChunkedDecoder::Result::Error) << bad;
  }
}

TEST(ChunkedDecoder, BoundsExtensionsAndTrailers) {
  ChunkedDecoder::Result r;
  decode_all("1;" + std::string(5000, 'x') + "\r\n", r);
  EXPECT_EQ(r, ChunkedDecoder::Result::Error);
  decode_all("0\r\nX: " + std::string(9000, 'y') + "\r\n\r\n", r);
  EXPECT_EQ(r, ChunkedDecoder::Result::Error);
}

}  // namespace
}  // namespace strait::proxy
