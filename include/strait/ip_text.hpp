// IPv4 addresses as text without inet_ntop: glibc formats through sprintf, which was a twentieth
// of the instructions of a new client connection and of every endpoint a translation formats.
#pragma once

#include <cstdint>

namespace strait {

// Decimal digits of n written at out; returns the end.
char* append_decimal(char* out, unsigned n);
// "a.b.c.d" from four bytes in network order, written at out (at most 15 chars); returns the end.
char* append_ipv4(char* out, const uint8_t* bytes);

}  // namespace strait
