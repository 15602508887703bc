"""A throwaway CA and a server certificate for 127.0.0.1 (made with the openssl CLI),
and kubeconfig files pointing at the fake server."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import yaml

_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key): a P-256 CA and a serverAuth leaf with SAN 127.0.0.1."""
    d = Path(directory)
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    key, csr, crt, ext = d / "server.key", d / "server.csr", d / "server.crt", d / "server.ext"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "2",
        "-subj", "/CN=fakekube-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    ext.write_text(_EXT)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    return ca_crt, crt, key


def kubeconfig(
    server: str,
    token: str,
    ca: Path | None,
    tls: str = "ca",
    namespace: str | None = None,
) -> dict[str, Any]:
    """tls: "ca" (certificate-authority file), "ca-data" (embedded), "insecure"
    (insecure-skip-tls-verify), "none" (no CA: verification must fail)."""
    cluster: dict[str, Any] = {"server": server}
    if server.startswith("https://"):
        if tls == "ca" and ca:
            cluster["certificate-authority"] = str(ca)
        elif tls == "ca-data" and ca:
            cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
        elif tls == "insecure":
            cluster["insecure-skip-tls-verify"] = True
    context: dict[str, Any] = {"cluster": "fakekube", "user": "fakekube"}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fakekube", "cluster": cluster}],
        "users": [{"name": "fakekube", "user": {"token": token}}],
        "contexts": [{"name": "fakekube", "context": context}],
        "current-context": "fakekube",
        "preferences": {},
    }


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path
