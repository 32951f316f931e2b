// Wall-clock timestamps as Kubernetes and log readers want them: RFC 3339 in UTC with a
// fraction ("2026-11-25T19:20:01.123Z"), appended without allocating once `out` is warm.
#pragma once

#include <string>

namespace strait {

// fraction_digits: 3 (milliseconds, access log) or 6 (microseconds, Kubernetes MicroTime).
void append_utc_timestamp(std::string& out, int fraction_digits);

}  // namespace strait
