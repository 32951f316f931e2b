#include "proxy/payload_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace strait::proxy {

void PayloadReader::reset(BodyFraming framing, uint64_t length) {
  framing_ = framing;
  remaining_ = length;
  payload_ = 0;
  chunks_.reset();
  done_ = framing == BodyFraming::None || (framing == BodyFraming::Length && length == 0);
}

PayloadReader::Status PayloadReader::read(const char* data, size_t size, uint8_t* out, size_t room,
                                          size_t& consumed, size_t& copied) {
  consumed = 0;
  copied = 0;
  if (done_) return Status::Done;
  switch (framing_) {
    case BodyFraming::None:
      break;
    case BodyFraming::Length: {
      size_t n = static_cast<size_t>(std::min<uint64_t>({room, remaining_, size}));
      std::memcpy(out, data, n);
      consumed = copied = n;
      remaining_ -= n;
      done_ = remaining_ == 0;
      break;
    }
    case BodyFraming::Chunked:
      while (copied < room && consumed < size) {
        // Offer at most as many input bytes as there is room for: a chunk handed back is then
        // never larger than the room (framing bytes only make it smaller).
        size_t offered = std::min(size - consumed, room - copied);
        size_t used = 0;
        std::string_view chunk;
        auto r = chunks_.next(data + consumed, offered, used, chunk);
        if (r == ChunkedDecoder::Result::Error) return Status::Error;
        if (r == ChunkedDecoder::Result::Data) {
          std::memcpy(out + copied, chunk.data(), chunk.size());
          copied += chunk.size();
        }
        consumed += used;
        if (r == ChunkedDecoder::Result::Done) {
          done_ = true;
          break;
        }
        if (r == ChunkedDecoder::Result::NeedMore && used == 0) break;
      }
      break;
    case BodyFraming::UntilClose: {
      size_t n = std::min(room, size);
      std::memcpy(out, data, n);
      consumed = copied = n;
      break;
    }
  }
  payload_ += copied;
  return done_ ? Status::Done : Status::More;
}

}  // namespace strait::proxy
