"""Test PKI made with the `openssl` CLI, and the kubeconfigs that point kubectl (or strait) at the server.

Files in the certs directory:
  ca.crt ca.key              the cluster CA (signs the server and client certificates)
  server.crt server.key      127.0.0.1 and localhost (IP and DNS SANs), serverAuth
  client.crt client.key      CN=admin, O=system:masters, clientAuth
  other-ca.crt other-ca.key  an unrelated CA, for the wrong-CA negative test
  token                      the bearer token the server accepts
Kubeconfigs (written once the port is known): kubeconfig-cert, kubeconfig-cert-files, kubeconfig-token,
kubeconfig-insecure, kubeconfig-wrong-ca.
"""
import base64
import os
import secrets
import subprocess
import tempfile

CERT_FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
              "other-ca.crt", "other-ca.key", "token")


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ca(directory, name, cn):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "3650", "-subj", f"/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", os.path.join(directory, f"{name}.key"), "-out", os.path.join(directory, f"{name}.crt"))


def _leaf(directory, name, subject, extensions):
    key, csr, crt = (os.path.join(directory, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", subject, "-keyout", key, "-out", csr)
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=directory, delete=False) as ext:
        ext.write(extensions)
    try:
        _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(directory, "ca.crt"),
                 "-CAkey", os.path.join(directory, "ca.key"), "-CAcreateserial", "-days", "3650",
                 "-sha256", "-extfile", ext.name, "-out", crt)
    finally:
        os.unlink(ext.name)
        os.unlink(csr)


def ensure_certs(directory):
    """Create whatever part of the PKI is missing (idempotent; a restart reuses the same files)."""
    os.makedirs(directory, exist_ok=True)
    if all(os.path.exists(os.path.join(directory, f)) for f in CERT_FILES):
        return
    _ca(directory, "ca", "strait-test-ca")
    _ca(directory, "other-ca", "strait-test-other-ca")
    _leaf(directory, "server", "/CN=strait-fake-apiserver",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _leaf(directory, "client", "/O=system:masters/CN=admin",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=clientAuth\n")
    for leftover in ("ca.srl",):
        path = os.path.join(directory, leftover)
        if os.path.exists(path):
            os.unlink(path)
    with open(os.path.join(directory, "token"), "w") as f:
        f.write(secrets.token_hex(24) + "\n")
    for name in ("ca.key", "server.key", "client.key", "other-ca.key", "token"):
        os.chmod(os.path.join(directory, name), 0o600)


def read_token(directory):
    with open(os.path.join(directory, "token")) as f:
        return f.read().strip()


def _b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def _kubeconfig(server, cluster, user):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: fake", "  cluster:",
             f"    server: {server}"]
    lines += [f"    {k}: {v}" for k, v in cluster.items()]
    lines += ["users:", "- name: admin", "  user:"]
    lines += [f"    {k}: {v}" for k, v in user.items()]
    lines += ["contexts:", "- name: fake", "  context:", "    cluster: fake", "    user: admin",
              "    namespace: default", "current-context: fake", ""]
    return "\n".join(lines)


def write_kubeconfigs(directory, server):
    d = os.path.abspath(directory)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    token = read_token(d)
    configs = {
        "kubeconfig-cert": ({"certificate-authority-data": _b64(p("ca.crt"))},
                            {"client-certificate-data": _b64(p("client.crt")),
                             "client-key-data": _b64(p("client.key"))}),
        "kubeconfig-cert-files": ({"certificate-authority": p("ca.crt")},
                                  {"client-certificate": p("client.crt"), "client-key": p("client.key")}),
        "kubeconfig-token": ({"certificate-authority": p("ca.crt")}, {"token": token}),
        "kubeconfig-insecure": ({"insecure-skip-tls-verify": "true"}, {"token": token}),
        "kubeconfig-wrong-ca": ({"certificate-authority-data": _b64(p("other-ca.crt"))}, {"token": token}),
    }
    for name, (cluster, user) in configs.items():
        tmp = p(name + ".tmp")
        with open(tmp, "w") as f:
            f.write(_kubeconfig(server, cluster, user))
        os.chmod(tmp, 0o600)
        os.replace(tmp, p(name))
