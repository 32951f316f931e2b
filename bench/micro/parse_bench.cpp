// parse_request(): the strict HTTP/1.1 head parser on the heads a proxy sees most.
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/http1_parser.hpp"

namespace strait::bench {
namespace {

using strait::proxy::ParsedRequest;
using strait::proxy::ParseStatus;

// What wrk sends.
const std::string kMinimal = "GET / HTTP/1.1\r\nHost: bench.example\r\n\r\n";

// A browser navigation: 14 fields, about 700 bytes.
const std::string kBrowser =
    "GET /api/v1/items/4242?sort=desc&page=3 HTTP/1.1\r\n"
    "Host: h4242.bench.example\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-GB,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: https://h4242.bench.example/api/v1/items\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=7f3a9c2e4b1d8f6a0e5c3b2a1d9f8e7c; theme=dark; "
    "_ga=GA1.2.1234567890.1700000000\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Priority: u=0, i\r\n"
    "\r\n";

// An API call behind another proxy: forwarded headers, a body, 40 fields.
std::string api_head() {
  std::string h =
      "POST /api/v1/orders HTTP/1.1\r\n"
      "Host: h17.bench.example\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: 512\r\n"
      "X-Forwarded-For: 203.0.113.7, 198.51.100.2\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Request-ID: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"
      "Authorization: Bearer "
      "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig\r\n";
  for (int i = 0; i < 33; ++i)
    h += "X-Custom-Header-" + std::to_string(i) + ": value-" + std::to_string(i) + "\r\n";
  return h + "\r\n";
}

void parse(benchmark::State& state, const std::string& head) {
  const proxy::HeadLimits limits;
  ParsedRequest out;
  proxy::parse_request(head.data(), head.size(), limits, out);
  if (out.status != ParseStatus::Complete) {
    state.SkipWithError(out.error);
    return;
  }
  for (auto _ : state) {
    proxy::parse_request(head.data(), head.size(), limits, out);
    benchmark::DoNotOptimize(out.status);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * head.size()));
  state.counters["head_bytes"] = static_cast<double>(head.size());
  state.counters["fields"] = static_cast<double>(out.header_count);
}

void BM_ParseRequest_Minimal(benchmark::State& s) {
  parse(s, kMinimal);
}
void BM_ParseRequest_Browser(benchmark::State& s) {
  parse(s, kBrowser);
}
void BM_ParseRequest_Api40Fields(benchmark::State& s) {
  static const std::string head = api_head();
  parse(s, head);
}

BENCHMARK(BM_ParseRequest_Minimal);
BENCHMARK(BM_ParseRequest_Browser);
BENCHMARK(BM_ParseRequest_Api40Fields);

}  // namespace
}  // namespace strait::bench
