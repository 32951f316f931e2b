// IncrementalTranslator and the ManifestSet's incremental store: after every step of random
// sequences of adds, changes and deletes (Ingresses, Services, EndpointSlices, Secrets,
// IngressClasses, manifest files), the incremental result must equal a full translation of the
// same objects: the same route table, the same clusters in the same order, the same warnings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "controller/endpoint_update.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

// Seeds per randomized test: `fallback`, or at most STRAIT_TEST_SEEDS. The sanitizer run of the
// test command uses fewer (at -O0 under ASan all of them take over a minute); the release run
// covers them all.
uint32_t seeds(uint32_t fallback) {
  const char* limit = std::getenv("STRAIT_TEST_SEEDS");
  const long n = limit != nullptr ? std::strtol(limit, nullptr, 10) : 0;
  return n > 0 ? std::min(fallback, static_cast<uint32_t>(n)) : fallback;
}

// Equal Snapshots and warnings; `where` names the step for the failure message.
void expect_same(const Translation& incremental, const Translation& full,
                 const std::string& where) {
  ASSERT_EQ(incremental.warnings, full.warnings) << where << "\nincremental:\n"
                                                 << warnings_text(incremental) << "full:\n"
                                                 << warnings_text(full);
  const Snapshot& a = *incremental.snapshot;
  const Snapshot& b = *full.snapshot;
  ASSERT_EQ(a.clusters.size(), b.clusters.size()) << where;
  for (size_t i = 0; i < a.clusters.size(); ++i) {
    ASSERT_EQ(*a.clusters[i], *b.clusters[i]) << where << ": cluster " << i;
  }
  ASSERT_TRUE(*a.routes == *b.routes) << where << ": route tables differ";
  ASSERT_TRUE(equivalent(a, b)) << where;
}

// Random objects over a small universe, so that hosts, paths, Services and Secrets collide.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  std::string ns() { return pick(3) == 0 ? "b" : "a"; }

  // More distinct hosts, so that most changes leave most hosts alone.
  size_t many_hosts = 0;

  IngressBackend backend() {
    IngressBackend b;
    if (chance(3)) {
      b.resource = TypedLocalObjectReference{std::nullopt, "Bucket", "x"};
      return b;
    }
    IngressServiceBackend s;
    s.name = "s" + std::to_string(pick(5));  // s4 never exists
    if (chance(25)) {
      s.port.name = pick(2) ? "http" : "grpc";
    } else {
      s.port.number = pick(4) ? 80 : 81;
    }
    b.service = s;
    return b;
  }

  Ingress ingress(const std::string& ns, const std::string& name) {
    static const char* hosts[] = {"x.com", "y.com", "*.w.com", "", "X.com", "bad_host!"};
    static const char* paths[] = {"/", "/api", "/api/", "/v1", "noslash", ""};
    static const char* types[] = {"Prefix", "Exact", "ImplementationSpecific", "Bogus"};
    static const char* times[] = {"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", ""};
    Ingress ing;
    ing.metadata.namespace_ = ns;
    ing.metadata.name = name;
    ing.metadata.creation_timestamp = times[pick(3)];
    switch (pick(8)) {
      case 0:
        break;  // class-less: ours only when a default IngressClass of ours exists
      case 1:
        ing.spec.ingress_class_name = "other";
        break;
      case 2:
        ing.metadata.annotations[std::string(kLegacyClassAnnotation)] = "strait";
        break;
      default:
        ing.spec.ingress_class_name = "strait";
    }
    if (chance(30)) ing.spec.default_backend = backend();
    size_t rules = pick(3);
    for (size_t r = 0; r < rules; ++r) {
      IngressRule rule;
      rule.host = many_hosts > 0 && chance(80) ? "h" + std::to_string(pick(many_hosts)) + ".com"
                                               : hosts[pick(6)];
      if (chance(90)) {
        rule.http.emplace();
        size_t n = 1 + pick(3);
        for (size_t p = 0; p < n; ++p) {
          HTTPIngressPath hp;
          std::string path = paths[pick(6)];
          if (!path.empty() || chance(50)) hp.path = path;
          hp.path_type = types[pick(4)];
          hp.backend = backend();
          rule.http->paths.push_back(hp);
        }
      }
      ing.spec.rules.push_back(rule);
    }
    if (chance(30)) {
      IngressTLS tls;
      tls.hosts = {hosts[pick(3)]};
      if (chance(80)) tls.secret_name = "sec" + std::to_string(pick(3));
      ing.spec.tls.push_back(tls);
    }
    return ing;
  }

  Service service(const std::string& ns, const std::string& name) {
    Service svc = make_service(ns, name, {{"http", 80}});
    if (chance(50)) {
      ServicePort p;
      p.name = "grpc";
      p.port = 81;
      if (chance(50)) p.app_protocol = "grpc";
      svc.ports.push_back(p);
    }
    if (chance(10)) {
      svc.type = "ExternalName";
      svc.external_name = "ext" + std::to_string(pick(2)) + ".example";
    }
    return svc;
  }

  EndpointSlice slice(const std::string& ns, const std::string& name) {
    std::vector<EndpointSpec> endpoints;
    size_t n = pick(4);
    for (size_t i = 0; i < n; ++i) {
      EndpointSpec e;
      e.address = "10.0." + std::to_string(pick(3)) + "." + std::to_string(pick(4));
      if (chance(30)) e.ready = false;
      if (chance(30)) e.serving = true, e.terminating = true;
      endpoints.push_back(e);
    }
    return make_slice(ns, name, "s" + std::to_string(pick(4)), pick(3) ? "http" : "grpc",
                      8080 + static_cast<int64_t>(pick(2)), endpoints);
  }

  Secret secret(const std::string& ns, const std::string& name) {
    Secret s;
    s.metadata.namespace_ = ns;
    s.metadata.name = name;
    s.type = "kubernetes.io/tls";
    if (chance(80)) {
      s.data["tls.crt"] = "CERT" + std::to_string(pick(3));
      s.data["tls.key"] = "KEY" + std::to_string(pick(3));
    }
    return s;
  }

  IngressClass ingress_class(const std::string& name) {
    IngressClass c;
    c.metadata.name = name;
    c.controller = pick(2) ? "strait.io/ingress-controller" : "example.com/other";
    if (chance(50)) c.metadata.annotations[std::string(kDefaultClassAnnotation)] = "true";
    return c;
  }

  // A random object of a random kind (names from a small set, so most are replacements).
  Object object() {
    std::string n = ns();
    switch (pick(10)) {
      case 0:
      case 1:
      case 2:
      case 3:
        return ingress(n, "ing" + std::to_string(pick(8)));
      case 4:
      case 5:
        return service(n, "s" + std::to_string(pick(4)));
      case 6:
      case 7:
        return slice(n, "sl" + std::to_string(pick(6)));
      case 8:
        return secret(n, "sec" + std::to_string(pick(3)));
      default:
        return ingress_class(pick(2) ? "strait" : "other");
    }
  }

 private:
  std::mt19937 rng_;
};

std::vector<TranslateOptions> option_sets() {
  TranslateOptions plain;
  TranslateOptions defaults;
  defaults.default_backend_service = "a/s0";
  defaults.default_ssl_certificate = "a/sec0";
  TranslateOptions classless;
  classless.watch_ingress_without_class = true;
  return {plain, defaults, classless};
}

TEST(IncrementalTranslator, RandomStoreChangesGiveTheFullTranslation) {
  for (uint32_t seed = 1; seed <= seeds(30); ++seed) {
    for (const TranslateOptions& options : option_sets()) {
      Generator gen(seed);
      Store store;
      IncrementalTranslator incremental(options);
      StoreChanges changes;
      for (int step = 0; step < 150; ++step) {
        // One to three events between translations, as a watch read may deliver several.
        size_t events = 1 + gen.pick(3);
        for (size_t e = 0; e < events; ++e) {
          Object o = gen.object();
          Kind kind = kind_of(o);
          std::string key = object_key(o);
          changes.object(store, kind, key);
          if (gen.chance(25)) {
            store.erase(kind, key);
          } else {
            store.upsert(std::move(o));
          }
          changes.object(store, kind, key);
        }
        Translation a = incremental.translate(store, changes);
        changes.clear();
        Translation b = translate(store, options);
        expect_same(a, b, "seed " + std::to_string(seed) + " step " + std::to_string(step));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

// After a random start, only Ingresses (and Secrets) change: the translations that copy the
// hosts no changed Ingress names from the previous table.
TEST(IncrementalTranslator, RandomIngressChangesGiveTheFullTranslation) {
  size_t reused = 0, merged = 0;
  for (uint32_t seed = 1; seed <= seeds(30); ++seed) {
    for (const TranslateOptions& options : option_sets()) {
      Generator gen(seed);
      gen.many_hosts = 40;
      Store store;
      for (int i = 0; i < 60; ++i) store.upsert(gen.object());
      IncrementalTranslator incremental(options);
      StoreChanges all;
      all.everything = true;
      incremental.translate(store, all);
      for (int step = 0; step < 100; ++step) {
        StoreChanges changes;
        size_t events = 1 + gen.pick(2);
        for (size_t e = 0; e < events; ++e) {
          Object o = gen.pick(6) == 0
                         ? Object(gen.secret(gen.ns(), "sec" + std::to_string(gen.pick(3))))
                         : Object(gen.ingress(gen.ns(), "ing" + std::to_string(gen.pick(30))));
          Kind kind = kind_of(o);
          std::string key = object_key(o);
          changes.object(store, kind, key);
          if (gen.chance(20)) {
            store.erase(kind, key);
          } else {
            store.upsert(std::move(o));
          }
          changes.object(store, kind, key);
        }
        Translation a = incremental.translate(store, changes);
        Translation b = translate(store, options);
        expect_same(a, b, "seed " + std::to_string(seed) + " step " + std::to_string(step));
        if (::testing::Test::HasFatalFailure()) return;
      }
      reused += incremental.stats().reused;
      merged += incremental.stats().merged;
    }
  }
  // Both ways were taken (a small universe: many changes touch most hosts or renumber clusters);
  // the bounds scale with the seeds run.
  EXPECT_GT(reused, 1500u * seeds(30) / 30) << merged;
  EXPECT_GT(merged, 1000u * seeds(30) / 30) << reused;
}

TEST(IncrementalTranslator, ReusesClustersOfUnchangedServicesOnly) {
  Store store;
  store.upsert(make_service("shop", "api", {{"http", 80}}));
  store.upsert(make_service("shop", "web", {{"http", 80}}));
  store.upsert(make_slice("shop", "api-1", "api", "http", 8080, {{"10.0.0.1"}}));
  store.upsert(make_slice("shop", "web-1", "web", "http", 8080, {{"10.0.1.1"}}));
  store.upsert(make_ingress("shop", "one", "a.com", {{"/", "Prefix", "api", 80}}));
  store.upsert(make_ingress("shop", "two", "b.com", {{"/", "Prefix", "web", 80}}));
  IncrementalTranslator t({});
  StoreChanges all;
  all.everything = true;
  Translation first = t.translate(store, all);
  ASSERT_EQ(first.snapshot->clusters.size(), 2u);

  // An Ingress change: both clusters are the previous objects.
  StoreChanges changes;
  store.upsert(make_ingress("shop", "one", "a.com", {{"/v2", "Prefix", "api", 80}}));
  changes.ingress("shop/one");
  Translation second = t.translate(store, changes);
  EXPECT_EQ(second.snapshot->clusters, first.snapshot->clusters);
  EXPECT_EQ(cluster_of(*second.snapshot, "a.com", "/v2/x"), "shop/api:80");

  // A slice change: that Service's cluster is rebuilt, the other is shared.
  changes.clear();
  store.upsert(make_slice("shop", "web-1", "web", "http", 8080, {{"10.0.1.1"}, {"10.0.1.2"}}));
  changes.object(store, Kind::EndpointSlice, "shop/web-1");
  Translation third = t.translate(store, changes);
  ASSERT_EQ(third.snapshot->clusters.size(), 2u);
  EXPECT_EQ(third.snapshot->clusters[0], second.snapshot->clusters[0]);
  EXPECT_NE(third.snapshot->clusters[1], second.snapshot->clusters[1]);
  EXPECT_EQ(third.snapshot->clusters[1]->endpoints.size(), 2u);
}

// A reference merge: every file's objects in path order, the first definition wins.
Store merge_from_scratch(const std::map<std::string, std::vector<Object>>& files) {
  Store store;
  std::set<std::pair<Kind, std::string>> seen;
  for (const auto& [path, objects] : files) {
    for (const Object& o : objects) {
      if (seen.emplace(kind_of(o), object_key(o)).second) store.upsert(o);
    }
  }
  return store;
}

TEST(ManifestSetIncremental, RandomFileChangesKeepTheMergedStoreAndTranslation) {
  for (uint32_t seed = 1; seed <= seeds(20); ++seed) {
    Generator gen(seed);
    ManifestSet set;
    std::map<std::string, std::vector<Object>> files;
    IncrementalTranslator incremental(option_sets()[1]);
    for (int step = 0; step < 120; ++step) {
      std::string path = "/m/" + std::to_string(gen.pick(6)) + ".yaml";
      if (gen.chance(20)) {
        EXPECT_EQ(set.remove_file(path), files.erase(path) > 0);
      } else {
        std::vector<Object> objects;
        size_t n = gen.pick(4);
        for (size_t i = 0; i < n; ++i) objects.push_back(gen.object());
        files[path] = objects;
        set.set_file(path, std::move(objects));
      }
      const std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      Store reference = merge_from_scratch(files);
      EXPECT_EQ(set.store().size(), reference.size()) << where;
      const TranslateOptions& options = incremental.options();
      Translation a = incremental.translate(set.store(), set.take_changes());
      Translation b = translate(reference, options);
      expect_same(a, b, where);
      if (::testing::Test::HasFatalFailure()) return;
      EXPECT_EQ(set.merged().warnings, set.duplicate_warnings());
    }
  }
}

// What a rewritten file records: nothing when its objects are the same (in another order too), a
// change beyond endpoints for a changed Secret (certificates are read on every translation), and
// endpoints only when only an EndpointSlice beside its unchanged Service moved.
TEST(ManifestSetIncremental, ARewrittenFileRecordsWhatChanged) {
  Generator gen(7);
  Service service = make_service("a", "s0");
  EndpointSlice slice = make_slice("a", "sl0", "s0", "", 8080, {{"10.0.0.1"}});
  Secret secret = gen.secret("a", "sec0");
  ManifestSet set;
  set.set_file("/m/app.yaml", {service, slice, secret});
  set.take_changes();
  set.set_file("/m/app.yaml", {secret, service, slice});
  StoreChanges same = set.take_changes();
  EXPECT_TRUE(same.empty());
  secret.data["tls.crt"] = "ROTATED";
  set.set_file("/m/app.yaml", {service, slice, secret});
  StoreChanges rotated = set.take_changes();
  EXPECT_FALSE(rotated.empty());
  EXPECT_FALSE(rotated.endpoints_only());
  slice = make_slice("a", "sl0", "s0", "", 8080, {{"10.0.0.2"}});
  set.set_file("/m/app.yaml", {service, slice, secret});
  StoreChanges moved = set.take_changes();
  EXPECT_TRUE(moved.endpoints_only());
  EXPECT_EQ(moved.services, std::set<std::string>{"a/s0"});
  EXPECT_EQ(set.store().endpoint_slices.at("a/sl0").endpoints[0].addresses[0], "10.0.0.2");
}

// The file source's way through a change (app/file_source.cpp): a rewritten file whose objects
// differ only in EndpointSlices (the Service beside them unchanged) records an endpoints-only
// change, which refresh_endpoints() applies and the translator is told of; anything else is
// translated. Every published snapshot routes like a full translation of the files.
TEST(ManifestSetIncremental, EndpointOnlyFileChangesTakeTheFastPathAndStayExact) {
  size_t fast = 0, translated = 0;
  for (uint32_t seed = 1; seed <= seeds(20); ++seed) {
    Generator gen(seed);
    ManifestSet set;
    std::map<std::string, std::vector<Object>> files;
    IncrementalTranslator incremental(option_sets()[0]);
    std::shared_ptr<const Snapshot> last;
    for (int step = 0; step < 120; ++step) {
      const std::string path = "/m/" + std::to_string(gen.pick(6)) + ".yaml";
      std::vector<Object> objects;
      if (files.count(path) && gen.chance(60)) {
        // The same file with new endpoints: every slice replaced by a random one of its name.
        objects = files[path];
        for (Object& o : objects) {
          if (auto* slice = std::get_if<EndpointSlice>(&o))
            o = gen.slice(slice->metadata.namespace_, slice->metadata.name);
        }
      } else {
        for (size_t i = 0, n = 1 + gen.pick(4); i < n; ++i) objects.push_back(gen.object());
      }
      files[path] = objects;
      set.set_file(path, std::move(objects));
      const std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      StoreChanges changes = set.take_changes();
      std::shared_ptr<const Snapshot> now;
      if (last && changes.endpoints_only()) {
        if (auto next = refresh_endpoints(*last, set.store(), changes.services)) {
          incremental.endpoints_refreshed(*next, changes.services);
          now = next;
          ++fast;
        }
      }
      if (!now) {
        now = incremental.translate(set.store(), changes).snapshot;
        ++translated;
      }
      Translation full = translate(merge_from_scratch(files), incremental.options());
      EXPECT_TRUE(equivalent(*now, *full.snapshot)) << where;
      if (::testing::Test::HasFailure()) return;
      last = now;
    }
  }
  EXPECT_GT(fast, 200u * seeds(20) / 20) << translated;
  EXPECT_GT(translated, 500u * seeds(20) / 20) << fast;
}

}  // namespace
}  // namespace strait::controller::testing
