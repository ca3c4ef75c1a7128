"""TLS settings as the manifests write them, turned into an `ssl.SSLContext` that verifies by default.

The Go original skipped certificate verification unless told otherwise; nmcore verifies unless a config
says `insecureSkipVerify: true`.
"""

import os
import ssl
import tempfile
from collections.abc import Callable

import attrs

from nmcore import v2beta2
from nmcore.resources import Credential, SecretKeySelector
from nmcore.schema import KEY


@attrs.frozen(kw_only=True)
class ClientCertificate:
    cert: Credential
    key: Credential


@attrs.frozen(kw_only=True)
class TLSConfig:
    root_ca: Credential | None = attrs.field(default=None, metadata={KEY: "rootCA"})
    client_certificate: ClientCertificate | None = None
    server_name: str = ""
    insecure_skip_verify: bool = False


SecretSource = SecretKeySelector | v2beta2.SecretKeyRef | Credential | v2beta2.Credential
"""What a send's secret reader resolves: a Secret key (v1alpha1 or v2beta2), or a credential (inline or not)."""

SecretReader = Callable[[SecretSource], str]


def credential_value(credential: Credential | v2beta2.Credential, secret: SecretReader) -> str:
    """A credential's value through the send's reader, which also remembers it to scrub it from errors."""
    return secret(credential)


def ssl_context(tls: TLSConfig | v2beta2.TLSConfig | None, secret: SecretReader) -> ssl.SSLContext:
    """A client context: system CAs (or `rootCA`), optional client certificate, verification on by default."""
    context = ssl.create_default_context()
    if tls is None:
        return context
    if tls.root_ca is not None:
        context = ssl.create_default_context(cadata=credential_value(tls.root_ca, secret))
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_certificate is not None:
        cert = credential_value(tls.client_certificate.cert, secret)
        key = credential_value(tls.client_certificate.key, secret)
        # ssl can only load a certificate chain from files: write them private, load, remove at once.
        with tempfile.TemporaryDirectory() as folder:
            cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, pem in ((cert_path, cert), (key_path, key)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                    out.write(pem)
            context.load_cert_chain(cert_path, key_path)
    return context
