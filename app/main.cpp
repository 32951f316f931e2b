// strait: one process, two halves meeting at an immutable Snapshot. The main thread owns the
// health endpoints and signals; the file source has its own thread; workers carry the traffic.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/admin_server.hpp"
#include "app/cli.hpp"
#include "app/file_source.hpp"
#include "proxy/proxy.hpp"
#include "strait/log.hpp"

namespace {

int run(const strait::app::Options& options) {
  using namespace strait;
  if (options.manifests.empty()) {
    std::fprintf(stderr, "strait: no configuration source: pass --manifests PATH\n");
    return 2;
  }
  boost::asio::io_context io{1};
  std::atomic<bool> ready{false};

  proxy::Proxy data_plane(options.proxy);
  std::string healthz_host =
      options.healthz_host.empty() ? options.proxy.bind_address : options.healthz_host;
  app::AdminServer admin(io, healthz_host, options.healthz_port, ready);

  bool first = true;
  app::FileSource source(options.manifests, options.translate,
                         [&](std::shared_ptr<const Snapshot> snapshot) {
                           bool initial = first;
                           first = false;
                           data_plane.publish(std::move(snapshot), [&ready, initial] {
                             if (initial) {
                               ready = true;
                               log_info("ready: first configuration is serving");
                             }
                           });
                         });
  source.load_initial();
  data_plane.start();
  source.start_watching();
  log_info("strait " STRAIT_VERSION " listening on " + options.proxy.bind_address + ":" +
           std::to_string(data_plane.http_port()) + " (http), health on " + healthz_host + ":" +
           std::to_string(options.healthz_port) + ", " + std::to_string(options.proxy.workers) +
           " workers");

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log_info(std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
             ": draining (grace " + std::to_string(options.shutdown_grace_period.count()) + " ms)");
    ready = false;
    source.stop();
    data_plane.drain_and_stop(options.shutdown_grace_period);
    admin.stop();
    io.stop();
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
