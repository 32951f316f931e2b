// Per-worker access log buffer. Lines are appended on the worker thread and written to stdout in
// batches (on the worker's tick or when the buffer fills): one write(2) per batch, not per request.
#pragma once

#include <string>

namespace strait::proxy {

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
