// Per-worker access log buffer. Lines are appended on the worker thread and written to stdout in
// batches (on the worker's tick or when the buffer fills): one write(2) per batch, not per request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strait::proxy {

class WorkerMetrics;

// JSON string content: quotes, backslashes, control and non-ASCII bytes escaped.
void append_json_escaped(std::string& out, std::string_view s);

// The access-log fields known when a request starts (HTTP/1 copies them then, because the head's
// bytes are released while the body streams): {"time":...,"scheme":... without the closing brace.
void append_access_log_prefix(std::string& out, std::string_view client_ip, std::string_view method,
                              std::string_view host, std::string_view path,
                              std::string_view protocol, bool tls);

// How an exchange ended, for the rest of the log line and the per-route metrics.
struct ExchangeRecord {
  int status = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_in = 0;
  double request_seconds = 0;
  bool upstream_responded = false;
  int upstream_status = 0;
  double upstream_seconds = 0;
  std::string_view upstream_addr;
  std::string_view route_ingress;  // "namespace/name"
  std::string_view service;        // cluster name
  std::string_view request_id;
};

// Counts the exchange in the worker's per-route metrics and, when the log is on, appends
// prefix + the outcome fields as one line.
void record_exchange(WorkerMetrics& metrics, class AccessLog& log, std::string_view prefix,
                     const ExchangeRecord& r);

class AccessLog {
 public:
  explicit AccessLog(bool enabled) : enabled_(enabled) { buffer_.reserve(kFlushAt + 4096); }
  ~AccessLog() { flush(); }
  bool enabled() const { return enabled_; }
  // Append one complete line (with its '\n') to this, then call commit().
  std::string& buffer() { return buffer_; }
  void commit() {
    if (buffer_.size() >= kFlushAt) flush();
  }
  void flush();

 private:
  static constexpr size_t kFlushAt = 32 * 1024;
  bool enabled_;
  std::string buffer_;
};

}  // namespace strait::proxy
