"""A private certificate authority for the engine's TLS and proxy tests, and the server
certificates it issues, made with the machine's ``openssl``.

Not trustme or ``cryptography``: with ``cryptography`` installed, PyJWT imports it into every
gateway process (~13 MB of address space, ~10 MB resident), which the e2e tests' memory budgets
would then measure although production's image has no such package.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

NAMES = ("localhost", "rivya.test")  # the names servers in the tests answer for
_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


class PrivateCA:
    """A CA (``cert``: its certificate, the file ``RIVYA_CA_FILE`` names) and a certificate it
    issued for each of ``NAMES`` (``issued[name]``: the certificate and key files)."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("the openssl command is needed (Debian: apt-get install openssl)")
        self.cert, self._key = directory / "ca.pem", directory / "ca-key.pem"
        _openssl(
            *("req", "-x509", *_EC, "-days", "2", "-subj", "/CN=Rivya Gateway tests CA"),
            *("-addext", "basicConstraints=critical,CA:TRUE"),
            *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
            *("-keyout", str(self._key), "-out", str(self.cert)),
        )
        self.issued = {name: self._issue(directory, name) for name in NAMES}

    def _issue(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
        request, extensions = directory / f"{name}.csr", directory / f"{name}.ext"
        extensions.write_text(
            f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-new", *_EC, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(request)
        )
        _openssl(
            *("x509", "-req", "-in", str(request), "-days", "2", "-extfile", str(extensions)),
            *("-CA", str(self.cert), "-CAkey", str(self._key), "-CAcreateserial"),
            *("-out", str(cert)),
        )
        return cert, key

    def server_context(self, name: str) -> ssl.SSLContext:
        """A server's TLS context presenting the certificate issued for ``name``."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.issued[name])
        return context

    def trusting(self) -> ssl.SSLContext:
        """A client's TLS context trusting this CA alone."""
        return ssl.create_default_context(cafile=str(self.cert))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)
