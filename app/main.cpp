// strait: one process, two halves meeting at an immutable Snapshot. The main thread owns the
// health endpoints, signals and (API mode) the Kubernetes watchers; file mode has its own
// watcher thread; workers carry the traffic.
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include "app/admin_server.hpp"
#include "app/cli.hpp"
#include "app/file_source.hpp"
#include "controller/kube/api_client.hpp"
#include "controller/kube/api_source.hpp"
#include "controller/kube/kubeconfig.hpp"
#include "controller/kube/leader_election.hpp"
#include "controller/kube/status_writer.hpp"
#include "proxy/proxy.hpp"
#include "strait/log.hpp"

namespace {

using namespace strait;

// Where the configuration comes from: YAML files (file mode) or the Kubernetes API.
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

class FileMode final : public ConfigSource {
 public:
  FileMode(const app::Options& o, app::FileSource::Publish publish)
      : source_(o.manifests, o.translate, std::move(publish)) {}
  void start() override {
    source_.load_initial();
    source_.start_watching();
  }
  void stop() override { source_.stop(); }

 private:
  app::FileSource source_;
};

class ApiMode final : public ConfigSource {
 public:
  ApiMode(boost::asio::io_context& io, const app::Options& o,
          controller::kube::ApiSource::Publish publish)
      : io_(io),
        update_status_(o.update_status),
        client_(io, access_for(o)),
        source_(io, client_, {o.translate, o.watch_namespace}, std::move(publish)),
        elector_(client_, election_options(o, client_.access())),
        status_(io, client_, elector_, {o.publish_service, o.publish_status_address, o.translate}) {
  }
  void start() override {
    source_.start();
    if (!update_status_) return;
    source_.on_synced(
        [this](const controller::Store& store, const std::vector<controller::Warning>& warnings) {
          status_.update(store, warnings);
        });
    elector_.on_change([this](bool leading) {
      if (leading) status_.resync();
    });
    boost::asio::co_spawn(io_, elector_.run(), boost::asio::detached);
  }
  void stop() override {
    source_.stop();
    elector_.stop();
  }

 private:
  static controller::kube::ClusterAccess access_for(const app::Options& o) {
    auto access = o.kubeconfig.empty() ? controller::kube::in_cluster_access()
                                       : controller::kube::load_kubeconfig(o.kubeconfig);
    if (!o.apiserver_host.empty()) controller::kube::override_server(access, o.apiserver_host);
    return access;
  }
  static controller::kube::LeaderElectionOptions election_options(
      const app::Options& o, const controller::kube::ClusterAccess& access) {
    controller::kube::LeaderElectionOptions e;
    // The pod's namespace from the downward API, as ingress-nginx reads it.
    const char* pod_namespace = std::getenv("POD_NAMESPACE");
    e.namespace_ = pod_namespace && *pod_namespace ? pod_namespace : access.namespace_;
    e.lease_name = o.election_id;
    e.identity = controller::kube::default_identity();
    return e;
  }
  boost::asio::io_context& io_;
  bool update_status_;
  controller::kube::ApiClient client_;
  controller::kube::ApiSource source_;
  controller::kube::LeaderElector elector_;
  controller::kube::StatusWriter status_;
};

int run(const app::Options& options) {
  if (!options.manifests.empty() && !options.kubeconfig.empty()) {
    std::fprintf(stderr, "strait: --manifests and --kubeconfig are exclusive\n");
    return 2;
  }
  boost::asio::io_context io{1};
  std::atomic<bool> ready{false};

  proxy::Proxy data_plane(options.proxy);
  std::string healthz_host =
      options.healthz_host.empty() ? options.proxy.bind_address : options.healthz_host;
  app::AdminServer admin(io, healthz_host, options.healthz_port, ready, [&data_plane] {
    std::string out;
    data_plane.append_metrics(out);
    return out;
  });

  // Sources call this from their own thread; ready flips once every worker routes with the
  // first complete configuration.
  std::atomic<bool> first{true};
  auto publish = [&](std::shared_ptr<const Snapshot> snapshot) {
    bool initial = first.exchange(false);
    data_plane.publish(std::move(snapshot), [&ready, initial] {
      if (initial) {
        ready = true;
        log_info("ready: first configuration is serving");
      }
    });
  };
  std::unique_ptr<ConfigSource> source;
  if (!options.manifests.empty()) {
    source = std::make_unique<FileMode>(options, publish);
  } else {
    source = std::make_unique<ApiMode>(io, options, publish);
  }
  source->start();
  data_plane.start();
  log_info("strait " STRAIT_VERSION " listening on " + options.proxy.bind_address + ":" +
           std::to_string(data_plane.http_port()) + " (http) and " +
           std::to_string(data_plane.https_port()) + " (https), health on " + healthz_host + ":" +
           std::to_string(options.healthz_port) + ", " + std::to_string(options.proxy.workers) +
           " workers");

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  boost::asio::steady_timer delay(io);
  bool stopping = false;
  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    delay.cancel();
    source->stop();
    data_plane.drain_and_stop(options.shutdown_grace_period);
    admin.stop();
    io.stop();
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    // Readiness fails at once; traffic keeps flowing for --shutdown-delay while endpoints and
    // load balancers take this pod out; then listeners close and in-flight requests finish.
    ready = false;
    log_info(std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
             ": readiness off, draining in " + std::to_string(options.shutdown_delay.count()) +
             " ms (grace " + std::to_string(options.shutdown_grace_period.count()) + " ms)");
    // A second signal skips the delay.
    signals.async_wait([&](const boost::system::error_code& e, int) {
      if (!e) stop();
    });
    delay.expires_after(options.shutdown_delay);
    delay.async_wait([&](const boost::system::error_code& e) {
      if (!e) stop();
    });
  });
  io.run();
  log_info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = strait::app::parse_command_line(args);
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "strait: %s (see --help)\n", parsed.error.c_str());
    return 2;
  }
  if (parsed.options.help) {
    std::cout << strait::app::usage();
    return 0;
  }
  if (parsed.options.version) {
    std::cout << "strait " STRAIT_VERSION "\n";
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(parsed.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strait: %s\n", e.what());
    return 1;
  }
}
