#include "controller/translator.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "controller/clusters.hpp"
#include "controller/endpoint_update.hpp"
#include "controller/validate.hpp"

namespace strait::controller {
namespace {

// One host's routes while Ingresses are merged into it. Ordered maps give a deterministic route
// order, so equal inputs give equal Snapshots.
struct HostBuilder {
  std::string host;
  std::map<std::string, Route, std::less<>> exact;   // key: path as written
  std::map<std::string, Route, std::less<>> prefix;  // key: prefix_key(path)
  std::optional<int32_t> fallback;
  std::string fallback_ingress;
};

std::string ingress_key(const Ingress& ing) {
  return ing.metadata.namespace_ + "/" + ing.metadata.name;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// What translating one Ingress needs that depends on that Ingress alone (and the classes):
// computed once per Ingress object and, in an IncrementalTranslator, kept until it changes.
struct PreparedIngress {
  bool ours = false;
  std::string key;                 // "namespace/name"
  std::string who;                 // "Ingress namespace/name", the warnings' object
  std::vector<FieldIssue> issues;  // validate_ingress(): empty for nearly every Ingress
  // The translation order (see rank()) as one string: "0"/"1" (dated/undated), the timestamp,
  // namespace and name, NUL-separated, so that ordering costs one memcmp. `order_exact` is
  // false when a field holds a NUL itself (the string would then not order like the fields).
  std::string order;
  bool order_exact = true;

  // What adding it gave in the last translation (IncrementalTranslator only). While neither
  // the Ingress, nor any other Ingress naming one of its hosts, nor any Service changed, adding
  // it again would give the same: its host entries can be copied from the previous table, and
  // only these warnings and cluster resolutions are replayed (they decide the warning order
  // and the cluster numbering).
  struct Recording {
    bool valid = false;
    std::vector<std::string> hosts;     // ingress_hosts()
    std::vector<std::string> clusters;  // cluster names resolved, first occurrences in order
    std::vector<Warning> warnings;      // as pushed, add_tls()'s in [tls_begin, tls_end)
    size_t tls_begin = 0, tls_end = 0;
  } recorded;
};

// The host entries (VirtualHost::host form: lower case, "*." kept, "" = catch-all) an Ingress
// may add routes or a fallback to.
std::vector<std::string> ingress_hosts(const Ingress& ing) {
  std::vector<std::string> hosts;
  for (const IngressRule& rule : ing.spec.rules) hosts.push_back(lower(rule.host));
  if (ing.spec.rules.empty()) hosts.emplace_back();
  return hosts;
}

PreparedIngress prepare(const Ingress& ing, const Store& store, const TranslateOptions& options) {
  PreparedIngress p;
  p.ours = is_ours(ing, store, options);
  if (!p.ours) return p;
  p.key = ingress_key(ing);
  p.who = "Ingress " + p.key;
  p.issues = validate_ingress(ing);
  const ObjectMeta& m = ing.metadata;
  p.order.reserve(m.creation_timestamp.size() + m.namespace_.size() + m.name.size() + 3);
  p.order.append(m.creation_timestamp.empty() ? "1" : "0").append(m.creation_timestamp);
  p.order.append(1, '\0').append(m.namespace_).append(1, '\0').append(m.name);
  for (const std::string* f : {&m.creation_timestamp, &m.namespace_, &m.name}) {
    if (f->find('\0') != std::string::npos) p.order_exact = false;
  }
  return p;
}

class Translator {
 public:
  Translator(const Store& store, const TranslateOptions& options, const ClusterCache* clusters,
             bool record)
      : store_(store), options_(options), clusters_(store, warnings_, clusters), record_(record) {}

  void add_ingress(const Ingress& ing, PreparedIngress& prepared);
  Translation finish();
  // An Ingress none of whose hosts is rebuilt: its recorded warnings and cluster resolutions
  // again (TLS is decided anew: Secrets are not tracked).
  void replay(const Ingress& ing, const PreparedIngress& prepared);
  // finish() for a translation whose builders hold only the hosts in `rebuilt`: every other
  // host is copied from `previous`. Empty when the cluster numbering came out different from
  // `previous_clusters` (the copied routes' indices would be wrong).
  std::optional<Translation> finish_reusing(
      const RouteTable& previous,
      const std::vector<std::shared_ptr<const Cluster>>& previous_clusters,
      const std::set<std::string>& rebuilt);

 private:
  HostBuilder& host_for(const std::string& host);
  void add_route(HostBuilder& vh, Route route, const std::string& who);
  int32_t resolve(const Ingress& ing, const IngressBackend& backend, const std::string& who);

  Translation finish_snapshot(std::shared_ptr<RouteTable> routes);
  // Moves the merged exact and wildcard hosts into `routes` (a host's own defaultBackend, else
  // default_fallback(builder)), marking those some spec.tls lists; shared by finish() and
  // finish_reusing().
  template <typename DefaultFallback>
  void move_hosts_into(RouteTable& routes, DefaultFallback& default_fallback);
  // The controller's default backend (--default-backend-service, else the built-in 404),
  // resolved (and warned about) the first time a translation needs it; `resolved` caches it.
  int32_t controller_default_backend(std::optional<int32_t>& resolved);
  // The TLS bindings by host and --default-ssl-certificate's (warned about when its Secret is
  // missing), in that order.
  void move_certificates_into(RouteTable& routes);

  const Store& store_;
  const TranslateOptions& options_;
  std::vector<Warning> warnings_;
  ClusterTable clusters_;
  bool record_;
  bool replay_failed_ = false;
  std::vector<std::string>* recording_clusters_ = nullptr;  // the Ingress being added
  // Hashed: the output maps are unordered, and nothing in finish() depends on host order.
  StringMap<HostBuilder> exact_hosts_;
  StringMap<HostBuilder> wildcard_hosts_;
  HostBuilder catch_all_;
  std::map<std::string, TlsBinding> tls_;  // by host; the oldest Ingress naming a host wins
  std::set<std::string> tls_hosts_;        // hosts listed in some spec.tls (even without Secret)
  void add_tls(const Ingress& ing, const std::string& who);
  std::optional<TlsBinding> secret_binding(const std::string& ns, const std::string& name,
                                           const std::string& who, const std::string& what);
};

std::optional<TlsBinding> Translator::secret_binding(const std::string& ns, const std::string& name,
                                                     const std::string& who,
                                                     const std::string& what) {
  auto it = store_.secrets.find(ns + "/" + name);
  if (it == store_.secrets.end()) {
    warnings_.push_back({who, "TLS Secret " + ns + "/" + name + " not found; " + what +
                                  " use the default certificate"});
    return std::nullopt;
  }
  const Secret& secret = it->second;
  auto crt = secret.data.find("tls.crt");
  auto key = secret.data.find("tls.key");
  if (crt == secret.data.end() || key == secret.data.end() || crt->second.empty() ||
      key->second.empty()) {
    warnings_.push_back({who, "TLS Secret " + ns + "/" + name + " has no tls.crt/tls.key; " + what +
                                  " use the default certificate"});
    return std::nullopt;
  }
  TlsBinding b;
  b.secret = ns + "/" + name;
  b.cert_pem = crt->second;
  b.key_pem = key->second;
  return b;
}

void Translator::add_tls(const Ingress& ing, const std::string& who) {
  for (const IngressTLS& entry : ing.spec.tls) {
    std::vector<std::string> hosts;
    for (const std::string& h : entry.hosts) hosts.push_back(lower(h));
    for (const std::string& h : hosts) tls_hosts_.insert(h);
    // No secretName: those hosts use the default certificate (ingress-nginx behaviour).
    if (entry.secret_name.empty() || hosts.empty()) continue;
    std::optional<TlsBinding> binding =
        secret_binding(ing.metadata.namespace_, entry.secret_name, who, "its hosts");
    if (!binding) continue;
    for (const std::string& h : hosts) {
      if (tls_.count(h)) continue;  // an older Ingress already chose this host's certificate
      TlsBinding b = *binding;
      b.host = h;
      b.ingress = ingress_key(ing);
      tls_.emplace(h, std::move(b));
    }
  }
}

HostBuilder& Translator::host_for(const std::string& raw) {
  if (raw.empty()) return catch_all_;
  std::string host = lower(raw);
  bool wildcard = host.starts_with("*.");
  auto& hosts = wildcard ? wildcard_hosts_ : exact_hosts_;
  std::string_view key = std::string_view(host).substr(wildcard ? 2 : 0);
  auto it = hosts.find(key);
  if (it == hosts.end()) {
    it = hosts.emplace(std::string(key), HostBuilder{}).first;
    it->second.host = std::move(host);
  }
  return it->second;
}

void Translator::add_route(HostBuilder& vh, Route route, const std::string& who) {
  bool exact = route.type == PathType::Exact;
  auto& routes = exact ? vh.exact : vh.prefix;
  std::string key(exact ? std::string_view(route.path) : prefix_key(route.path));
  auto it = routes.find(key);
  if (it == routes.end()) {
    routes.emplace(std::move(key), std::move(route));
    return;
  }
  Route& held = it->second;
  if (held.path == route.path) {
    // Ingresses arrive oldest first, so the held route is the older one.
    warnings_.push_back({who, std::string(exact ? "Exact" : "Prefix") + " path " + route.path +
                                  " on host " + (vh.host.empty() ? "(any)" : vh.host) +
                                  " is already defined by Ingress " + held.ingress +
                                  " (older); ignored"});
    return;
  }
  // "/foo" and "/foo/" match the same requests; the longer written path wins (API docs).
  if (route.path.size() > held.path.size()) held = std::move(route);
}

int32_t Translator::resolve(const Ingress& ing, const IngressBackend& backend,
                            const std::string& who) {
  if (!backend.service) {
    warnings_.push_back({who, "resource backends are not supported; answering 503"});
    return kBackendUnavailable;
  }
  int32_t index = clusters_.resolve(ing.metadata.namespace_, *backend.service, who);
  if (recording_clusters_ != nullptr && index >= 0) {
    auto& names = *recording_clusters_;
    const std::string& name = clusters_.last_name();
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return index;
}

void Translator::replay(const Ingress& ing, const PreparedIngress& prepared) {
  const PreparedIngress::Recording& r = prepared.recorded;
  const auto begin = r.warnings.begin();
  warnings_.insert(warnings_.end(), begin, begin + static_cast<ptrdiff_t>(r.tls_begin));
  add_tls(ing, prepared.who);
  warnings_.insert(warnings_.end(), begin + static_cast<ptrdiff_t>(r.tls_end), r.warnings.end());
  for (const std::string& name : r.clusters) {
    if (!clusters_.ensure(name)) replay_failed_ = true;
  }
}

void Translator::add_ingress(const Ingress& ing, PreparedIngress& prepared) {
  const std::string& key = prepared.key;
  const std::string& who = prepared.who;
  const size_t first_warning = warnings_.size();
  size_t tls_begin = 0, tls_end = 0;
  PreparedIngress::Recording& rec = prepared.recorded;
  if (record_) {
    rec = {};
    recording_clusters_ = &rec.clusters;
  }
  // Validation issues skip only the part they concern; the rest of the Ingress still routes.
  const std::vector<FieldIssue>& issues = prepared.issues;
  for (const FieldIssue& issue : issues) {
    warnings_.push_back({who, "invalid " + issue.field + ": " + issue.reason + "; ignored"});
  }
  // Field paths are written out only when there is an issue to compare them with.
  auto invalid = [&](const FieldRef& field) {
    if (issues.empty()) return false;
    const std::string path = field.str();
    return std::any_of(issues.begin(), issues.end(),
                       [&](const FieldIssue& i) { return field_under(i.field, path); });
  };
  const FieldRef rules{nullptr, "spec.rules"};

  const bool has_default =
      ing.spec.default_backend && !invalid(FieldRef{nullptr, "spec.defaultBackend"});
  std::optional<int32_t> default_cluster;  // resolved only if some host takes it
  auto claim_fallback = [&](HostBuilder& vh) {
    if (!has_default || vh.fallback) return;
    if (!default_cluster) default_cluster = resolve(ing, *ing.spec.default_backend, who);
    vh.fallback = *default_cluster;
    vh.fallback_ingress = key;
  };

  tls_begin = warnings_.size() - first_warning;
  add_tls(ing, who);
  tls_end = warnings_.size() - first_warning;
  if (ing.spec.rules.empty()) claim_fallback(catch_all_);
  for (size_t i = 0; i < ing.spec.rules.size(); ++i) {
    const IngressRule& rule = ing.spec.rules[i];
    const FieldRef rule_field = rules.at(i);
    if (invalid(rule_field.child("host"))) continue;
    HostBuilder& vh = host_for(rule.host);
    claim_fallback(vh);
    if (!rule.http) continue;
    for (size_t j = 0; j < rule.http->paths.size(); ++j) {
      const FieldRef paths = rule_field.child("http.paths");
      if (invalid(paths.at(j))) continue;
      const HTTPIngressPath& p = rule.http->paths[j];
      Route route;
      route.type = p.path_type == "Exact" ? PathType::Exact : PathType::Prefix;
      // ImplementationSpecific may omit the path: it then means every path.
      route.path = p.path.value_or("").empty() ? "/" : *p.path;
      route.cluster = resolve(ing, p.backend, who);
      route.ingress = key;
      add_route(vh, std::move(route), who);
    }
  }
  if (record_) {
    recording_clusters_ = nullptr;
    rec.valid = true;
    rec.hosts = ingress_hosts(ing);
    rec.warnings.assign(warnings_.begin() + static_cast<ptrdiff_t>(first_warning), warnings_.end());
    rec.tls_begin = tls_begin;
    rec.tls_end = tls_end;
  }
}

VirtualHost build_host(HostBuilder&& b, int32_t default_fallback) {
  VirtualHost vh;
  vh.host = std::move(b.host);
  for (auto* routes : {&b.exact, &b.prefix}) {
    bool exact = routes == &b.exact;
    for (auto& [key, route] : *routes) {
      (exact ? vh.exact : vh.prefix).emplace(key, static_cast<uint32_t>(vh.routes.size()));
      vh.routes.push_back(std::move(route));
    }
  }
  vh.fallback = b.fallback.value_or(default_fallback);
  if (b.fallback) vh.fallback_ingress = std::move(b.fallback_ingress);
  return vh;
}

template <typename DefaultFallback>
void Translator::move_hosts_into(RouteTable& routes, DefaultFallback& default_fallback) {
  for (auto& [key, b] : exact_hosts_) {
    int32_t fb = default_fallback(b);
    VirtualHost& vh = routes.exact_hosts.emplace(key, build_host(std::move(b), fb)).first->second;
    vh.tls = tls_hosts_.count(vh.host) > 0;
  }
  for (auto& [key, b] : wildcard_hosts_) {
    int32_t fb = default_fallback(b);
    VirtualHost& vh =
        routes.wildcard_hosts.emplace(key, build_host(std::move(b), fb)).first->second;
    vh.tls = tls_hosts_.count(vh.host) > 0;
  }
}

int32_t Translator::controller_default_backend(std::optional<int32_t>& resolved) {
  if (!resolved) {
    resolved = options_.default_backend_service.empty()
                   ? kBackendNotFound
                   : clusters_.resolve_default_service(options_.default_backend_service);
  }
  return *resolved;
}

void Translator::move_certificates_into(RouteTable& routes) {
  for (auto& [host, binding] : tls_) routes.tls.push_back(std::move(binding));
  if (!options_.default_ssl_certificate.empty()) {
    const std::string& ref = options_.default_ssl_certificate;
    size_t slash = ref.find('/');
    auto b = secret_binding(ref.substr(0, slash), ref.substr(slash + 1),
                            "--default-ssl-certificate", "unknown hosts");
    if (b) routes.default_certificate.push_back(std::move(*b));
  }
}

Translation Translator::finish() {
  // The controller's default backend, resolved only when some host needs it.
  std::optional<int32_t> controller_default;
  auto default_fallback = [&](const HostBuilder& b) {
    return b.fallback ? *b.fallback : controller_default_backend(controller_default);
  };
  auto routes = std::make_shared<RouteTable>();
  move_hosts_into(*routes, default_fallback);
  move_certificates_into(*routes);
  int32_t fb = default_fallback(catch_all_);
  routes->catch_all = build_host(std::move(catch_all_), fb);
  return finish_snapshot(std::move(routes));
}

std::optional<Translation> Translator::finish_reusing(
    const RouteTable& previous,
    const std::vector<std::shared_ptr<const Cluster>>& previous_clusters,
    const std::set<std::string>& rebuilt) {
  if (replay_failed_) return std::nullopt;
  // The same steps as finish(), in the same order where a warning may be produced (the
  // controller's default backend before the default certificate, unless only the catch-all
  // needs it).
  std::optional<int32_t> controller_default;
  auto resolve_default = [&] { return controller_default_backend(controller_default); };
  auto default_fallback = [&](const HostBuilder& b) {
    return b.fallback ? *b.fallback : resolve_default();
  };
  auto routes = std::make_shared<RouteTable>();
  move_hosts_into(*routes, default_fallback);
  bool copies_need_default = false;
  auto copy_hosts = [&](const StringMap<VirtualHost>& from, StringMap<VirtualHost>& to) {
    for (const auto& [key, vh] : from) {
      if (rebuilt.count(vh.host)) continue;
      VirtualHost& copy = to.emplace(key, vh).first->second;
      copy.tls = tls_hosts_.count(copy.host) > 0;
      if (copy.fallback_ingress.empty()) copies_need_default = true;
    }
  };
  copy_hosts(previous.exact_hosts, routes->exact_hosts);
  copy_hosts(previous.wildcard_hosts, routes->wildcard_hosts);
  if (copies_need_default) resolve_default();
  move_certificates_into(*routes);
  if (rebuilt.count("")) {
    int32_t fb = default_fallback(catch_all_);
    routes->catch_all = build_host(std::move(catch_all_), fb);
  } else {
    routes->catch_all = previous.catch_all;
    if (routes->catch_all.fallback_ingress.empty()) resolve_default();
  }
  // The copied hosts hold cluster indices of the previous numbering: each one they use must
  // still name the same cluster (a changed Ingress may have moved the others).
  const auto& clusters = clusters_.clusters();
  std::vector<char> same(previous_clusters.size(), 0);
  for (size_t i = 0; i < same.size() && i < clusters.size(); ++i) {
    same[i] =
        clusters[i] == previous_clusters[i] || clusters[i]->name == previous_clusters[i]->name;
  }
  auto unchanged = [&](int32_t index) {
    return index < 0 ||
           (static_cast<size_t>(index) < same.size() && same[static_cast<size_t>(index)]);
  };
  auto host_unchanged = [&](const VirtualHost& vh) {
    if (!unchanged(vh.fallback)) return false;
    for (const Route& r : vh.routes) {
      if (!unchanged(r.cluster)) return false;
    }
    return true;
  };
  for (const auto* hosts : {&previous.exact_hosts, &previous.wildcard_hosts}) {
    for (const auto& [key, vh] : *hosts) {
      if (!rebuilt.count(vh.host) && !host_unchanged(vh)) return std::nullopt;
    }
  }
  if (!rebuilt.count("") && !host_unchanged(previous.catch_all)) return std::nullopt;
  return finish_snapshot(std::move(routes));
}

Translation Translator::finish_snapshot(std::shared_ptr<RouteTable> routes) {
  build_route_index(*routes);
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->routes = std::move(routes);
  snapshot->clusters = clusters_.take();

  // The same problem found twice (one Service named by two paths) is reported once.
  std::vector<Warning> unique;
  for (Warning& w : warnings_) {
    if (std::find(unique.begin(), unique.end(), w) == unique.end()) unique.push_back(std::move(w));
  }
  return {std::move(snapshot), std::move(unique)};
}

}  // namespace

std::string_view prefix_key(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

namespace {

// An Ingress of ours in translation order, with the fields that order compares copied next to
// each other: sorting 10,000 Ingresses otherwise spends its time on cache misses into the objects.
struct Ranked {
  bool undated;
  std::string_view created, ns, name;
  std::string_view order;  // PreparedIngress::order
  const Ingress* ingress;
  PreparedIngress* prepared;
};

// Oldest first: creationTimestamp (RFC 3339 UTC compares as text), then namespace/name. Objects
// without a timestamp (manifests on disk) sort after the ones the API server dated.
// `prepared(key, ingress)` returns the Ingress's PreparedIngress (cached or made on the spot).
template <typename Prepared>
std::vector<Ranked> rank(const Store& store, Prepared&& prepared) {
  std::vector<Ranked> ours;
  ours.reserve(store.ingresses.size());
  bool exact = true;
  for (const auto& [key, ing] : store.ingresses) {
    PreparedIngress& p = prepared(key, ing);
    if (!p.ours) continue;
    const ObjectMeta& m = ing.metadata;
    ours.push_back({m.creation_timestamp.empty(), m.creation_timestamp, m.namespace_, m.name,
                    p.order, &ing, &p});
    exact = exact && p.order_exact;
  }
  if (exact) {
    std::sort(ours.begin(), ours.end(),
              [](const Ranked& a, const Ranked& b) { return a.order < b.order; });
  } else {
    std::sort(ours.begin(), ours.end(), [](const Ranked& a, const Ranked& b) {
      return std::tie(a.undated, a.created, a.ns, a.name) <
             std::tie(b.undated, b.created, b.ns, b.name);
    });
  }
  return ours;
}

}  // namespace

Translation translate(const Store& store, const TranslateOptions& options) {
  std::vector<PreparedIngress> prepared;
  prepared.reserve(store.ingresses.size());  // no reallocation: Ranked points into it
  std::vector<Ranked> ours =
      rank(store, [&](const std::string&, const Ingress& ing) -> PreparedIngress& {
        return prepared.emplace_back(prepare(ing, store, options));
      });
  Translator t(store, options, nullptr, false);
  for (const Ranked& r : ours) t.add_ingress(*r.ingress, *r.prepared);
  return t.finish();
}

struct IncrementalTranslator::Cache {
  StringMap<PreparedIngress> ingresses;  // by Store key; only Ingresses of the last translation
  ClusterCache clusters;                 // by Cluster::name
  // The last result, whose hosts a translation of a few changed Ingresses copies.
  std::shared_ptr<const RouteTable> routes;
  std::vector<std::shared_ptr<const Cluster>> snapshot_clusters;
};

IncrementalTranslator::IncrementalTranslator(TranslateOptions options)
    : options_(std::move(options)), cache_(std::make_unique<Cache>()) {}

IncrementalTranslator::~IncrementalTranslator() = default;

namespace {

// Rebuilding more than this share of the Ingresses is left to the whole merge.
constexpr size_t kMaxRebuiltShare = 4;

}  // namespace

namespace {

// Drops the cached clusters of the Services in `services`.
void drop_clusters_of(ClusterCache& clusters, const ServiceKeys& services) {
  for (auto it = clusters.begin(); it != clusters.end();) {
    const Cluster& c = *it->second;
    it =
        services.contains(c.service_namespace, c.service_name) ? clusters.erase(it) : std::next(it);
  }
}

}  // namespace

void IncrementalTranslator::endpoints_refreshed(const Snapshot& snapshot,
                                                const std::set<std::string>& services) {
  Cache& cache = *cache_;
  // The cached clusters of those Services are stale: dropped, and the snapshot's taken instead.
  const ServiceKeys changed(services);
  drop_clusters_of(cache.clusters, changed);
  for (const auto& c : snapshot.clusters) {
    if (changed.contains(c->service_namespace, c->service_name))
      cache.clusters.insert_or_assign(c->name, c);
  }
  cache.snapshot_clusters = snapshot.clusters;
}

Translation IncrementalTranslator::translate(const Store& store, const StoreChanges& changes) {
  Cache& cache = *cache_;
  // Only Ingresses changed (no Service, slice or class), and the previous result is there: the
  // hosts those Ingresses name (before and after) are rebuilt, the others copied.
  bool reuse_hosts =
      cache.routes && !changes.everything && changes.services.empty() && !changes.ingresses.empty();
  std::set<std::string> rebuilt;  // VirtualHost::host of the hosts rebuilt
  if (changes.everything) {
    cache.ingresses.clear();
    cache.clusters.clear();
    cache.routes.reset();
  }
  for (const std::string& key : changes.ingresses) {
    auto it = cache.ingresses.find(std::string_view(key));
    if (it == cache.ingresses.end()) continue;
    if (!it->second.recorded.valid) reuse_hosts = false;
    for (const std::string& h : it->second.recorded.hosts) rebuilt.insert(h);
    cache.ingresses.erase(it);
  }
  if (!changes.services.empty()) drop_clusters_of(cache.clusters, ServiceKeys(changes.services));
  // Ingresses deleted without being reported would otherwise stay cached forever; a cache
  // larger than the store means some did: start again from what the store holds.
  if (cache.ingresses.size() > store.ingresses.size()) {
    cache.ingresses.clear();
    reuse_hosts = false;
  }
  std::vector<Ranked> ours =
      rank(store, [&](const std::string& key, const Ingress& ing) -> PreparedIngress& {
        auto it = cache.ingresses.find(std::string_view(key));
        if (it == cache.ingresses.end()) {
          it = cache.ingresses.emplace(key, prepare(ing, store, options_)).first;
        }
        return it->second;
      });

  std::optional<Translation> out;
  if (reuse_hosts) {
    // Which Ingresses are added again: those without a recording (the changed ones) and, until
    // nothing grows, every Ingress naming a host that is rebuilt (they merge into it).
    std::vector<char> add(ours.size(), 0);
    size_t added = 0;
    std::vector<std::string> hosts;
    bool grew = true;
    while (grew && added * kMaxRebuiltShare <= ours.size()) {
      grew = false;
      for (size_t i = 0; i < ours.size(); ++i) {
        if (add[i]) continue;
        const PreparedIngress& p = *ours[i].prepared;
        bool fresh = !p.recorded.valid;
        const std::vector<std::string>& named =
            fresh ? (hosts = ingress_hosts(*ours[i].ingress)) : p.recorded.hosts;
        bool touches = fresh;
        for (const std::string& h : named) touches = touches || rebuilt.count(h) > 0;
        if (!touches) continue;
        add[i] = 1;
        ++added;
        for (const std::string& h : named) grew = rebuilt.insert(h).second || grew;
      }
    }
    if (added * kMaxRebuiltShare <= ours.size()) {
      Translator t(store, options_, &cache.clusters, true);
      for (size_t i = 0; i < ours.size(); ++i) {
        if (add[i]) {
          t.add_ingress(*ours[i].ingress, *ours[i].prepared);
        } else {
          t.replay(*ours[i].ingress, *ours[i].prepared);
        }
      }
      out = t.finish_reusing(*cache.routes, cache.snapshot_clusters, rebuilt);
      if (out) ++stats_.reused;
    }
  }
  if (!out) {
    ++stats_.merged;
    Translator t(store, options_, &cache.clusters, true);
    for (const Ranked& r : ours) t.add_ingress(*r.ingress, *r.prepared);
    out = t.finish();
  }
  // Keep this translation's clusters for the next one. Clusters no Ingress uses any more are
  // dropped when they outnumber the used ones (they are still correct while their Service is
  // unchanged, only memory).
  const auto& clusters = out->snapshot->clusters;
  if (cache.clusters.size() > 2 * clusters.size() + 16) cache.clusters.clear();
  for (const auto& c : clusters) cache.clusters.try_emplace(c->name, c);
  cache.routes = out->snapshot->routes;
  cache.snapshot_clusters = clusters;
  return std::move(*out);
}

}  // namespace strait::controller
