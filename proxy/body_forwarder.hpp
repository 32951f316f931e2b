// Turns body bytes as they arrive in one framing into the gather buffers to send in another,
// without copying payload: Content-Length in -> raw out, chunked in -> chunked (re-framed, with
// extensions and trailers dropped) or raw out, until-close in -> chunked or raw out.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http1_parser.hpp"

namespace strait::proxy {

class BodyForwarder {
 public:
  BodyForwarder();
  // `in` is how the body arrives (Length with `length`, Chunked, UntilClose); `chunked_out`
  // re-frames it as chunked, otherwise the payload bytes go out as they are.
  void reset(BodyFraming in, uint64_t length, bool chunked_out);

  // Looks at [data, data+size) and prepares buffers() for what can be sent now. Returns false
  // on a framing error (error() says why). consumed() input bytes may be released once the
  // buffers are written.
  bool prepare(const char* data, size_t size);
  // Until-close input ended: emits the terminal chunk when re-framing.
  void finish_at_eof();

  const std::vector<boost::asio::const_buffer>& buffers() const { return buffers_; }
  size_t consumed() const { return consumed_; }
  uint64_t payload_bytes() const { return payload_; }  // total payload bytes seen so far
  bool done() const { return done_; }
  const char* error() const { return decoder_.error(); }

 private:
  static constexpr size_t kMaxSlices = 16;
  void add_payload(std::string_view data);

  BodyFraming in_ = BodyFraming::None;
  bool chunked_out_ = false;
  uint64_t remaining_ = 0;
  uint64_t payload_ = 0;
  ChunkedDecoder decoder_;
  std::vector<boost::asio::const_buffer> buffers_;
  char size_lines_[kMaxSlices][20];
  size_t slices_ = 0;
  size_t consumed_ = 0;
  bool done_ = false;
};

}  // namespace strait::proxy
