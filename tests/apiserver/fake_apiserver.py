#!/usr/bin/env python3
"""A fake kube-apiserver for strait's tests: Python 3 standard library only. See README.md here.

  fake_apiserver.py --listen 127.0.0.1:0 --certs DIR [--control 127.0.0.1:0] [--history N]
                    [--state-file F] [--bookmark-interval SECONDS] [-v]
  fake_apiserver.py --init DIR        (only make the certificates)

Prints `control 127.0.0.1:PORT` (with --control) and then `listening 127.0.0.1:PORT` once ready;
runs until SIGTERM or SIGINT.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeapi import certs  # noqa: E402
from fakeapi.api import ApiServer, App, make_ssl_context  # noqa: E402
from fakeapi.control import start_control  # noqa: E402
from fakeapi.registry import Registry  # noqa: E402
from fakeapi.store import Store  # noqa: E402


def _address(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class Listener:
    """The API port. It can stop listening (connections are refused) and listen again on the same port."""

    def __init__(self, address, app, ssl_ctx):
        self.address, self.app, self.ssl_ctx = address, app, ssl_ctx
        self.lock = threading.Lock()
        self.server = None
        self.timer = None
        self._open()

    def _open(self):
        self.server = ApiServer(self.address, self.app, self.ssl_ctx)
        self.address = self.server.server_address[:2]  # a port-0 start keeps its port from now on
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                         name="api-accept", daemon=True).start()

    def accepting(self):
        with self.lock:
            return self.server is not None

    def refuse(self, seconds=None):
        """Close the listening socket and cut open connections; listen again after `seconds` if given."""
        with self.lock:
            if self.timer:
                self.timer.cancel()
                self.timer = None
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
                self.server = None
            if seconds is not None:
                self.timer = threading.Timer(float(seconds), self.accept)
                self.timer.daemon = True
                self.timer.start()
        self.app.activity.signal_watches("reset")
        self.app.wake_watches()
        return self.app.cut_connections()

    def accept(self):
        with self.lock:
            if self.timer:
                self.timer.cancel()
                self.timer = None
            if self.server is None:
                self._open()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=_address, default=("127.0.0.1", 0), help="API (HTTPS) address")
    p.add_argument("--certs", help="directory with (or for) the test PKI; kubeconfigs are written here")
    p.add_argument("--control", type=_address, help="plain-HTTP fault-injection address")
    p.add_argument("--history", type=int, default=10000, help="changes kept for watches from an older RV")
    p.add_argument("--state-file", help="journal that keeps objects and the RV counter across restarts")
    p.add_argument("--bookmark-interval", type=float, default=1.0, help="seconds between BOOKMARK events")
    p.add_argument("--init", metavar="DIR", help="only create the certificates in DIR and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)

    if args.init:
        certs.ensure_certs(args.init)
        print(f"certificates in {os.path.abspath(args.init)}", flush=True)
        return 0
    if not args.certs:
        p.error("--certs DIR is required")
    certs.ensure_certs(args.certs)

    store = Store(args.history, args.state_file)
    registry = Registry(store)
    app = App(store, registry, certs.read_token(args.certs), args.bookmark_interval, args.verbose)
    listener = Listener(args.listen, app, make_ssl_context(args.certs))
    host, port = listener.address
    app.address = f"{host}:{port}"
    certs.write_kubeconfigs(args.certs, f"https://{host}:{port}")

    control = None
    if args.control:
        control = start_control(args.control, app, listener)
        print("control %s:%d" % control.server_address[:2], flush=True)
    print(f"listening {host}:{port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass

    # Shut down: end watch streams cleanly, stop listening, close the journal.
    app.closing = True
    app.wake_watches()
    deadline = time.monotonic() + 1.0
    while app.activity.snapshot()["watches"] and time.monotonic() < deadline:
        time.sleep(0.02)
    listener.refuse(None)
    if control:
        control.server_close()
    store.close()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
