// One reflector per kind, as client-go does it: a paged LIST, then a WATCH from the list's
// resourceVersion with bookmarks. A 410 (as HTTP status or as an ERROR event) means relist; a
// stream that ends cleanly means watch again from the last resourceVersion; errors, 5xx and 429
// mean reconnect after a jittered exponential backoff (Retry-After honoured).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "controller/kube/api_client.hpp"
#include "controller/objects.hpp"

namespace strait::controller::kube {

// Where a reflector delivers what it learns. Called on the control-plane thread.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // A complete list: the kind's objects are exactly these now (deletions included).
  virtual void replace(Kind kind, std::vector<Object> objects) = 0;
  virtual void upsert(Object object) = 0;
  virtual void erase(Kind kind, const std::string& key) = 0;
  // The API server answered (healthy = true) or failed (reason) for this kind.
  virtual void api_health(Kind kind, bool healthy, const std::string& reason) = 0;
};

struct ReflectorOptions {
  std::string namespace_;      // empty: all namespaces
  std::string label_selector;  // e.g. for namespace selection; optional
  std::string field_selector;  // Secrets: type=kubernetes.io/tls
  int page_size = 500;
  std::chrono::seconds watch_timeout{300};  // the server ends the watch after this
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
};

class Reflector {
 public:
  Reflector(ApiClient& client, Kind kind, ReflectorSink& sink, ReflectorOptions options);
  boost::asio::awaitable<void> run();
  void stop() { stopped_ = true; }
  std::string collection_path() const;

 private:
  enum class WatchEnd { Relist, Rewatch, Backoff };
  boost::asio::awaitable<bool> list();  // false: failed, back off
  boost::asio::awaitable<WatchEnd> watch();
  boost::asio::awaitable<void> backoff(const std::string& retry_after);
  std::string query(bool watch, const std::string& continue_token) const;

  ApiClient& client_;
  Kind kind_;
  ReflectorSink& sink_;
  ReflectorOptions options_;
  std::string resource_version_;
  std::chrono::milliseconds next_backoff_;
  std::mt19937 rng_{std::random_device{}()};
  bool stopped_ = false;
};

}  // namespace strait::controller::kube
