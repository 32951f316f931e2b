// Standard base64 (RFC 4648, with padding), as Kubernetes encodes Secret data.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace strait::controller {

// The decoded bytes, or nullopt when `text` is not valid padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace strait::controller
