// Request-path normalisation before routing (RFC 3986 6.2.2 and 5.2.4), so that the path strait
// routes on is exactly the path it forwards: percent-encoded unreserved characters are decoded
// ("%61" -> "a", "%2E" -> "."), other escapes get upper-case hex, repeated slashes merge (nginx's
// merge_slashes), and "." / ".." segments are removed. An encoded slash (%2F) or backslash (%5C)
// stays encoded (APIs use them inside a segment), but a path in which decoding them would make a
// "." or ".." segment is refused: a backend that decodes them would otherwise see a path the
// route never matched ("/public/..%2Fadmin").
#pragma once

#include <string>
#include <string_view>

namespace strait::proxy {

enum class PathCheck { Unchanged, Normalized, Rejected };

// `path` is the request path without its query, starting with '/'. On Normalized, `out` holds
// the new path; on Unchanged, `out` is untouched (no copy on the common path). Malformed
// escapes ("%4", "%zz") are Rejected.
PathCheck normalize_path(std::string_view path, std::string& out);

}  // namespace strait::proxy
