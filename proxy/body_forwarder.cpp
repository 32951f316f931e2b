#include "proxy/body_forwarder.hpp"

#include <cstdio>

namespace strait::proxy {
namespace {
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
}  // namespace

BodyForwarder::BodyForwarder() {
  buffers_.reserve(3 * kMaxSlices + 1);
}

void BodyForwarder::reset(BodyFraming in, uint64_t length, bool chunked_out) {
  in_ = in;
  chunked_out_ = chunked_out;
  remaining_ = in == BodyFraming::Length ? length : 0;
  payload_ = 0;
  decoder_.reset();
  buffers_.clear();
  slices_ = 0;
  consumed_ = 0;
  done_ = in == BodyFraming::None || (in == BodyFraming::Length && length == 0);
}

void BodyForwarder::add_payload(std::string_view data) {
  payload_ += data.size();
  if (!chunked_out_) {
    buffers_.emplace_back(data.data(), data.size());
    return;
  }
  char* line = size_lines_[slices_++];
  int n = std::snprintf(line, sizeof size_lines_[0], "%zx\r\n", data.size());
  buffers_.emplace_back(line, static_cast<size_t>(n));
  buffers_.emplace_back(data.data(), data.size());
  buffers_.emplace_back(kCrlf.data(), kCrlf.size());
}

bool BodyForwarder::prepare(const char* data, size_t size) {
  buffers_.clear();
  slices_ = 0;
  consumed_ = 0;
  if (done_) return true;
  switch (in_) {
    case BodyFraming::None:
      return true;
    case BodyFraming::Length: {
      size_t n = size < remaining_ ? size : static_cast<size_t>(remaining_);
      if (n > 0) add_payload({data, n});
      remaining_ -= n;
      consumed_ = n;
      done_ = remaining_ == 0;
      return true;
    }
    case BodyFraming::UntilClose:
      if (size > 0) add_payload({data, size});
      consumed_ = size;
      return true;
    case BodyFraming::Chunked:
      while (consumed_ < size && slices_ < kMaxSlices) {
        size_t used = 0;
        std::string_view chunk;
        auto r = decoder_.next(data + consumed_, size - consumed_, used, chunk);
        consumed_ += used;
        if (r == ChunkedDecoder::Result::Error) return false;
        if (r == ChunkedDecoder::Result::Data) {
          if (!chunk.empty()) add_payload(chunk);
        } else if (r == ChunkedDecoder::Result::Done) {
          done_ = true;
          if (chunked_out_) buffers_.emplace_back(kLastChunk.data(), kLastChunk.size());
          break;
        } else {
          break;  // NeedMore
        }
      }
      return true;
  }
  return true;
}

void BodyForwarder::finish_at_eof() {
  buffers_.clear();
  slices_ = 0;
  consumed_ = 0;
  done_ = true;
  if (chunked_out_) buffers_.emplace_back(kLastChunk.data(), kLastChunk.size());
}

}  // namespace strait::proxy
