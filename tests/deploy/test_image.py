"""The offline image: scripts/build-image.sh turns the strait binary into an OCI archive whose
entrypoint is /strait, whose user is not root, which holds exactly the binary, the shared libraries
`ldd` lists and a few files under /etc, and in whose root filesystem (unpacked, in a chroot, as the
image's user) the binary runs `--version` and, with the Deployment's args, becomes ready against the
test API server. Skipped, saying why, when buildah is not installed."""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

import deploytools as dt  # noqa: E402

BUILD_IMAGE = os.path.join(dt.ROOT, "scripts", "build-image.sh")
ETC_FILES = {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ssl/certs/ca-certificates.crt"}


def _ldd_paths(binary):
    out = dt.run(["ldd", binary]).stdout
    paths = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/"):
            paths.add(parts[2])
        elif parts and parts[0].startswith("/"):
            paths.add(parts[0])
    return paths


def _tree(root):
    """Every path under root with its size and modification time."""
    out = {}
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            st = os.lstat(os.path.join(d, n))
            out[os.path.relpath(os.path.join(d, n), root)] = (st.st_size, st.st_mtime_ns)
    return out


class ImageTest(unittest.TestCase):
    def setUp(self):
        if not shutil.which("buildah"):
            self.skipTest("buildah is not installed (apt-get install buildah; scripts/build-image.sh "
                          "installs it when run as root)")
        self.binary = dt.strait_binary()
        if not os.access(self.binary, os.X_OK):
            self.fail(f"no strait binary at {self.binary} (build it, or set STRAIT_BINARY)")
        self.tmp = tempfile.mkdtemp(prefix="strait-deploy-image-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def blob(self, root, digest):
        return os.path.join(root, "blobs", *digest.split(":", 1))

    def test_image_archive(self):
        archive = os.path.join(self.tmp, "strait-image.tar")
        dt.run([BUILD_IMAGE, "--binary", self.binary, "--output", archive], timeout=600)
        version_line = dt.run([self.binary, "--version"]).stdout.strip()
        version = version_line.split()[1]

        layout = os.path.join(self.tmp, "layout")
        os.mkdir(layout)
        dt.run(["tar", "-xf", archive, "-C", layout])
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        self.assertEqual(len(index["manifests"]), 1)
        self.assertEqual(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
                         f"docker.io/library/strait:{version}")
        with open(self.blob(layout, index["manifests"][0]["digest"])) as f:
            manifest = json.load(f)
        with open(self.blob(layout, manifest["config"]["digest"])) as f:
            config = json.load(f)
        cfg = config["config"]
        self.assertEqual(cfg["Entrypoint"], ["/strait"])
        self.assertFalse(cfg.get("Cmd"))
        self.assertEqual(cfg["User"], "65532:65532")
        self.assertEqual(set(cfg["ExposedPorts"]), {"8080/tcp", "8443/tcp", "10254/tcp"})

        # The root filesystem: exactly the binary, what ldd lists, and the files under /etc.
        rootfs = os.path.join(self.tmp, "rootfs")
        os.mkdir(rootfs)
        for layer in manifest["layers"]:
            dt.run(["tar", "-xf", self.blob(layout, layer["digest"]), "-C", rootfs])
        files = {"/" + os.path.relpath(os.path.join(d, n), rootfs)
                 for d, _, names in os.walk(rootfs) for n in names
                 if not os.path.islink(os.path.join(d, n))}
        self.assertEqual(files, {"/strait"} | _ldd_paths(self.binary) | ETC_FILES)
        with open(os.path.join(rootfs, "etc", "passwd")) as f:
            self.assertIn("strait:x:65532:65532:", f.read())

        if os.geteuid() != 0:
            self.skipTest("chroot needs root: the image's layout is checked, its binary not run")
        chroot = [shutil.which("chroot") or "/usr/sbin/chroot", "--userspec=65532:65532", rootfs]
        p = subprocess.run(chroot + ["/strait", "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, version_line), p.stderr)
        self.run_as_deployed(chroot, rootfs)

    def run_as_deployed(self, chroot, rootfs):
        """The image's /strait, as the image's user, with the Deployment's args, against the test API
        server: it becomes ready (the libraries, the loader and OpenSSL work inside the image) and
        writes nothing to the root filesystem (the pod's is read-only)."""
        server = dt.FakeApiServer(os.path.join(self.tmp, "api"))
        self.addCleanup(server.stop)
        env = dt.offline_env(self.tmp)
        objs = dt.yaml_to_objects(dt.kustomize("loadbalancer", env), env)
        server.kubectl("apply", "-k", os.path.join(dt.ROOT, "deploy", "overlays", "loadbalancer"))
        # The kubeconfig with the credentials inline, in a directory the pod would mount.
        mount = os.path.join(rootfs, "var", "run", "kube")
        os.makedirs(mount)
        shutil.copy(os.path.join(server.certs, "kubeconfig-cert"), os.path.join(mount, "kubeconfig"))
        os.chmod(os.path.join(mount, "kubeconfig"), 0o644)  # as a projected volume's files are
        before = _tree(rootfs)
        args, pod_env, ports = dt.container_invocation(objs, "/var/run/kube/kubeconfig", "strait-image-test")
        log_path = os.path.join(self.tmp, "strait.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(chroot + ["/strait", *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                    env={"PATH": "/", **pod_env})
        try:
            def ready():
                if proc.poll() is not None:
                    raise AssertionError(f"strait exited with {proc.returncode}")
                return dt.http_status(f"http://127.0.0.1:{ports['healthz-port']}/readyz") == 200
            dt.wait_for(ready, 30, "/readyz 200 from the image's strait")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=40), 0)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            with open(log_path, errors="replace") as f:
                raise AssertionError(f"{e}\n--- strait's log:\n{f.read()[-8000:]}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(_tree(rootfs), before)


if __name__ == "__main__":
    unittest.main()
