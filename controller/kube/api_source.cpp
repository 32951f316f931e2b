#include "controller/kube/api_source.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <nlohmann/json.hpp>

#include "controller/decode.hpp"
#include "controller/endpoint_update.hpp"
#include "controller/warning_log.hpp"
#include "strait/log.hpp"
#include "strait/metrics.hpp"

namespace strait::controller::kube {
namespace asio = boost::asio;

ApiSource::ApiSource(asio::io_context& io, ApiClient& client, ApiSourceOptions options,
                     Publish publish)
    : io_(io),
      client_(client),
      options_(std::move(options)),
      publish_(std::move(publish)),
      kinds_{Kind::IngressClass, Kind::Service, Kind::EndpointSlice, Kind::Secret, Kind::Ingress},
      translator_(options_.translate) {}

void ApiSource::start() {
  for (Kind kind : kinds_) {
    ReflectorOptions o;
    o.namespace_ = options_.watch_namespace;
    if (kind == Kind::Secret) o.field_selector = "type=kubernetes.io/tls";
    reflectors_.push_back(std::make_unique<Reflector>(client_, kind, *this, o));
    asio::co_spawn(io_, reflectors_.back()->run(), asio::detached);
  }
  log_info("watching the Kubernetes API at " + client_.access().server_url() + " (" +
           client_.access().source + ")" +
           (options_.watch_namespace.empty() ? "" : ", namespace " + options_.watch_namespace));
}

void ApiSource::stop() {
  stopped_ = true;
  for (auto& r : reflectors_) r->stop();
}

void ApiSource::replace(Kind kind, std::vector<Object> objects) {
  // Everything of this kind not in the new list was deleted while we were not watching.
  std::vector<std::string> stale;
  auto collect = [&](const auto& map) {
    for (const auto& [key, value] : map) stale.push_back(key);
  };
  switch (kind) {
    case Kind::Ingress:
      collect(store_.ingresses);
      break;
    case Kind::IngressClass:
      collect(store_.ingress_classes);
      break;
    case Kind::Service:
      collect(store_.services);
      break;
    case Kind::EndpointSlice:
      collect(store_.endpoint_slices);
      break;
    case Kind::Secret:
      collect(store_.secrets);
      break;
  }
  for (const auto& key : stale) store_.erase(kind, key);
  if (kind == Kind::Secret) unreferenced_secrets_.clear();
  for (auto& o : objects) {
    if (keep_secret(o)) store_.upsert(std::move(o));
  }
  listed_.insert(kind);
  full_sync_needed_ = true;
  changes_.everything = true;  // a relist: nothing cached is trusted
  mark_dirty();
}

void ApiSource::note_slice(const EndpointSlice& slice) {
  std::string service = slice.metadata.namespace_ + "/" + slice.service_name();
  changes_.service(service);
  changed_services_.insert(std::move(service));
}

void ApiSource::note_change(Kind kind, const std::string& key) {
  switch (kind) {
    case Kind::Ingress:
      changes_.ingress(key);
      break;
    case Kind::Service:
      changes_.service(key);
      break;
    case Kind::IngressClass:
      changes_.everything = true;  // class selection of every Ingress may change
      break;
    case Kind::EndpointSlice:  // note_slice()
    case Kind::Secret:         // read from the store on every translation
      break;
  }
}

void ApiSource::upsert(Object object) {
  if (const auto* slice = std::get_if<EndpointSlice>(&object)) {
    // Both the old and the new owner Service (the label may have changed).
    auto old = store_.endpoint_slices.find(object_key(object));
    if (old != store_.endpoint_slices.end()) note_slice(old->second);
    note_slice(*slice);
  } else {
    full_sync_needed_ = true;
    note_change(kind_of(object), object_key(object));
  }
  if (!keep_secret(object)) return;
  store_.upsert(std::move(object));
  mark_dirty();
}

std::set<std::string> ApiSource::referenced_secrets() const {
  std::set<std::string> keys;
  if (!options_.translate.default_ssl_certificate.empty())
    keys.insert(options_.translate.default_ssl_certificate);
  for (const auto& [key, ing] : store_.ingresses) {
    for (const auto& tls : ing.spec.tls) {
      if (!tls.secret_name.empty()) keys.insert(ing.metadata.namespace_ + "/" + tls.secret_name);
    }
  }
  return keys;
}

bool ApiSource::keep_secret(const Object& object) {
  if (kind_of(object) != Kind::Secret) return true;
  std::string key = object_key(object);
  if (referenced_secrets().count(key)) {
    unreferenced_secrets_.erase(key);
    return true;
  }
  unreferenced_secrets_.insert(key);
  store_.erase(Kind::Secret, key);
  return false;
}

void ApiSource::fetch_newly_referenced_secrets() {
  std::set<std::string> referenced = referenced_secrets();
  // Drop the ones no Ingress names any more.
  std::vector<std::string> unused;
  for (const auto& [key, secret] : store_.secrets) {
    if (!referenced.count(key)) unused.push_back(key);
  }
  for (const auto& key : unused) {
    store_.erase(Kind::Secret, key);
    unreferenced_secrets_.insert(key);
  }
  for (const auto& key : referenced) {
    if (!unreferenced_secrets_.count(key)) continue;
    size_t slash = key.find('/');
    std::string path =
        "/api/v1/namespaces/" + key.substr(0, slash) + "/secrets/" + key.substr(slash + 1);
    asio::co_spawn(
        io_,
        [this, path]() -> asio::awaitable<void> {
          ApiResponse res = co_await client_.request("GET", path);
          if (!res.ok()) co_return;
          auto decoded =
              decode_object(Kind::Secret, nlohmann::json::parse(res.body, nullptr, false));
          if (auto* object = std::get_if<Object>(&decoded)) upsert(std::move(*object));
        },
        asio::detached);
  }
}

void ApiSource::erase(Kind kind, const std::string& key) {
  if (kind == Kind::EndpointSlice) {
    auto old = store_.endpoint_slices.find(key);
    if (old != store_.endpoint_slices.end()) note_slice(old->second);
  } else {
    full_sync_needed_ = true;
    note_change(kind, key);
  }
  if (store_.erase(kind, key)) mark_dirty();
}

void ApiSource::api_health(Kind kind, bool healthy, const std::string& reason) {
  // One line when the API server goes away, one when it is back; not one per retry.
  if (healthy) {
    unhealthy_.erase(kind);
    if (unhealthy_.empty() && outage_logged_) {
      outage_logged_ = false;
      log_info("Kubernetes API reachable again");
    }
    return;
  }
  unhealthy_.insert(kind);
  if (!outage_logged_) {
    outage_logged_ = true;
    log_warning("Kubernetes API unavailable (" + reason +
                "); serving the last good configuration and retrying");
  }
}

void ApiSource::mark_dirty() {
  // Level-triggered: a burst of events schedules one sync that reads the whole store. The sync
  // is posted behind the events already queued (a watch read delivers many at once), and while
  // a long translation runs new events pile up and are taken by the next one: batching without
  // a fixed delay on every change.
  if (sync_scheduled_) return;
  sync_scheduled_ = true;
  asio::post(io_, [this] {
    sync_scheduled_ = false;
    if (!stopped_) sync();
  });
}

void ApiSource::sync() {
  // Until every kind has been listed once, a translation would see Ingresses without their
  // Services (503s for routes that are fine): wait for the complete picture.
  if (!synced()) return;
  auto sync_started = std::chrono::steady_clock::now();
  auto record = [&] {
    ConfigMetrics::instance().syncs.add();
    ConfigMetrics::instance().sync_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_started).count());
  };
  std::set<std::string> services = std::move(changed_services_);
  changed_services_.clear();
  if (!full_sync_needed_ && last_) {
    // Only endpoints moved: rebuild those clusters and keep the route table.
    if (auto next = refresh_endpoints(*last_, store_, services)) {
      // Every change since the last translation was a slice, and each fast path told the
      // translator its clusters: the next translation need not hear of these Services (it would
      // merge every Ingress again instead of copying the unchanged hosts).
      translator_.endpoints_refreshed(*next, services);
      changes_.services.clear();
      record();
      if (equivalent(*last_, *next)) return;
      next->version = ++version_;
      last_ = next;
      publish_(last_);
      return;
    }
  }
  full_sync_needed_ = false;
  fetch_newly_referenced_secrets();
  Translation translation = translator_.translate(store_, changes_);
  changes_.clear();
  log_new_warnings(translation.warnings, last_warnings_);
  if (listener_) listener_(store_, translation.warnings);
  bool same = last_ && equivalent(*last_, *translation.snapshot);
  record();
  if (same) return;
  translation.snapshot->version = ++version_;
  last_ = translation.snapshot;
  log_info("configuration " + std::to_string(version_) + ": " +
           std::to_string(store_.ingresses.size()) + " ingresses, " +
           std::to_string(translation.snapshot->clusters.size()) + " backends");
  publish_(last_);
}

}  // namespace strait::controller::kube
