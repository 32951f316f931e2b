#include "strait/ip_text.hpp"

namespace strait {

char* append_decimal(char* out, unsigned n) {
  char digits[10];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (count > 0) *out++ = digits[--count];
  return out;
}

char* append_ipv4(char* out, const uint8_t* bytes) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *out++ = '.';
    out = append_decimal(out, bytes[i]);
  }
  return out;
}

}  // namespace strait
