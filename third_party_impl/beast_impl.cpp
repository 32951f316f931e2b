// The one translation unit that compiles Boost.Beast (BOOST_BEAST_SEPARATE_COMPILATION) and
// Asio's OpenSSL glue. Only the Kubernetes API client uses them today.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
