#include "controller/kube/reflector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "controller/decode.hpp"

namespace strait::controller::kube {
namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

std::string url_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string resource_of(Kind kind) {
  switch (kind) {
    case Kind::Ingress:
      return "ingresses";
    case Kind::IngressClass:
      return "ingressclasses";
    case Kind::Service:
      return "services";
    case Kind::EndpointSlice:
      return "endpointslices";
    case Kind::Secret:
      return "secrets";
  }
  return "";
}

int status_code_of(const json& status) {
  if (status.is_object() && status.contains("code") && status["code"].is_number_integer())
    return status["code"].get<int>();
  return 0;
}

}  // namespace

Reflector::Reflector(ApiClient& client, Kind kind, ReflectorSink& sink, ReflectorOptions options)
    : client_(client),
      kind_(kind),
      sink_(sink),
      options_(std::move(options)),
      next_backoff_(options_.backoff_initial) {}

std::string Reflector::collection_path() const {
  std::string api = std::string(api_version_of(kind_));
  std::string prefix = api == "v1" ? "/api/v1" : "/apis/" + api;
  if (is_namespaced(kind_) && !options_.namespace_.empty())
    return prefix + "/namespaces/" + options_.namespace_ + "/" + resource_of(kind_);
  return prefix + "/" + resource_of(kind_);
}

std::string Reflector::query(bool watch, const std::string& continue_token) const {
  std::string q = collection_path() + "?";
  if (watch) {
    q += "watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
         std::to_string(options_.watch_timeout.count()) +
         "&resourceVersion=" + url_escape(resource_version_);
  } else {
    q += "limit=" + std::to_string(options_.page_size);
    if (!continue_token.empty()) q += "&continue=" + url_escape(continue_token);
  }
  if (!options_.field_selector.empty() && is_namespaced(kind_))
    q += "&fieldSelector=" + url_escape(options_.field_selector);
  if (!options_.label_selector.empty() && is_namespaced(kind_))
    q += "&labelSelector=" + url_escape(options_.label_selector);
  return q;
}

asio::awaitable<void> Reflector::backoff(const std::string& retry_after) {
  std::chrono::milliseconds wait = next_backoff_;
  if (!retry_after.empty()) {
    try {
      wait = std::max(wait, std::chrono::milliseconds(std::stoi(retry_after) * 1000));
    } catch (...) {
      // an HTTP-date Retry-After: keep our own backoff
    }
  }
  // +-20 % jitter so many controllers do not reconnect in lockstep.
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  wait = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(wait.count()) * jitter(rng_)));
  next_backoff_ = std::min(next_backoff_ * 2, options_.backoff_max);
  asio::steady_timer timer(co_await asio::this_coro::executor, wait);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<bool> Reflector::list() {
  std::vector<Object> objects;
  std::string continue_token;
  while (true) {
    ApiResponse res = co_await client_.request("GET", query(false, continue_token));
    if (res.status == 410 && !continue_token.empty()) {
      // The continue token expired mid-way: start the list again.
      objects.clear();
      continue_token.clear();
      continue;
    }
    if (!res.ok()) {
      sink_.api_health(kind_, false, "list " + collection_path() + ": " + res.describe());
      co_await backoff(res.retry_after);
      co_return false;
    }
    json doc = json::parse(res.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) {
      sink_.api_health(kind_, false, "list " + collection_path() + ": malformed response");
      co_await backoff({});
      co_return false;
    }
    for (const auto& item : doc["items"]) {
      auto decoded = decode_object(kind_, item);
      // An object the API server accepted but we cannot decode is skipped, not fatal: one odd
      // object must not stop the controller from seeing every other one.
      if (auto* object = std::get_if<Object>(&decoded)) objects.push_back(std::move(*object));
    }
    const json& meta = doc.value("metadata", json::object());
    resource_version_ = meta.value("resourceVersion", "");
    continue_token = meta.value("continue", "");
    if (continue_token.empty()) break;
  }
  sink_.replace(kind_, std::move(objects));
  sink_.api_health(kind_, true, {});
  next_backoff_ = options_.backoff_initial;
  co_return true;
}

asio::awaitable<Reflector::WatchEnd> Reflector::watch() {
  WatchEnd end = WatchEnd::Rewatch;
  auto on_event = [&](std::string_view text) {
    json event = json::parse(text, nullptr, false);
    if (!event.is_object()) return true;
    std::string type = event.value("type", "");
    const json& object = event.contains("object") ? event["object"] : json();
    if (type == "ERROR") {
      end = status_code_of(object) == 410 ? WatchEnd::Relist : WatchEnd::Backoff;
      return false;
    }
    if (object.is_object() && object.contains("metadata")) {
      std::string rv = object["metadata"].value("resourceVersion", "");
      if (!rv.empty()) resource_version_ = rv;
    }
    if (type == "BOOKMARK") return true;
    auto decoded = decode_object(kind_, object);
    auto* obj = std::get_if<Object>(&decoded);
    if (obj == nullptr) return true;
    if (type == "ADDED" || type == "MODIFIED") {
      sink_.upsert(std::move(*obj));
    } else if (type == "DELETED") {
      sink_.erase(kind_, object_key(*obj));
    }
    return true;
  };
  // A watch the server accepted means the API is back, even if no event ever comes.
  auto on_open = [this] {
    sink_.api_health(kind_, true, {});
    next_backoff_ = options_.backoff_initial;
  };
  ApiResponse res = co_await client_.stream(
      query(true, {}), on_event, options_.watch_timeout + std::chrono::seconds(30), on_open);
  if (res.status == 410) co_return WatchEnd::Relist;
  if (res.status != 200) {
    sink_.api_health(kind_, false, "watch " + collection_path() + ": " + res.describe());
    co_await backoff(res.retry_after);
    co_return WatchEnd::Backoff;
  }
  if (!res.error.empty() || end == WatchEnd::Backoff) {
    // The stream broke: come back from the same resourceVersion after a pause.
    sink_.api_health(
        kind_, false,
        "watch " + collection_path() + ": " + (res.error.empty() ? "error event" : res.error));
    co_await backoff({});
    co_return WatchEnd::Backoff;
  }
  sink_.api_health(kind_, true, {});
  next_backoff_ = options_.backoff_initial;
  co_return end;
}

asio::awaitable<void> Reflector::run() {
  bool need_list = true;
  while (!stopped_) {
    if (need_list) {
      if (!co_await list()) continue;
      need_list = false;
    }
    WatchEnd end = co_await watch();
    if (end == WatchEnd::Relist) need_list = true;
  }
}

}  // namespace strait::controller::kube
