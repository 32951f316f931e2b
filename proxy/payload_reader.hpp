// Pulls a body's payload out of its HTTP/1 framing (Content-Length, chunked, until close) into a
// caller's buffer, as much as fits. For the protocol bridges that must copy (HTTP/1 body <->
// HTTP/2 DATA); BodyForwarder is the zero-copy path between two HTTP/1 connections.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proxy/http1_parser.hpp"

namespace strait::proxy {

class PayloadReader {
 public:
  enum class Status : uint8_t { More, Done, Error };
  void reset(BodyFraming framing, uint64_t length);
  // Reads framing and payload from [data, data+size), copying at most `room` payload bytes to
  // `out`. `consumed` input bytes may be released; `copied` payload bytes were written. An
  // until-close body is never Done here: its end is the connection's EOF.
  Status read(const char* data, size_t size, uint8_t* out, size_t room, size_t& consumed,
              size_t& copied);
  bool done() const { return done_; }
  uint64_t payload_bytes() const { return payload_; }
  const char* error() const { return chunks_.error(); }

 private:
  BodyFraming framing_ = BodyFraming::None;
  uint64_t remaining_ = 0;
  uint64_t payload_ = 0;
  ChunkedDecoder chunks_;
  bool done_ = true;
};

}  // namespace strait::proxy
