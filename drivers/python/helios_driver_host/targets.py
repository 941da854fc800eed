"""Target URLs, as the user gave them, split into what drivers' connect calls take. A
target holds secrets: nothing here prints one, and errors name the part that is wrong,
never the URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from .adapter import HostError


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None = field(repr=False)
    # The path's segments, unquoted: `/helios/public` → ["helios", "public"].
    path: list[str]
    query: dict[str, str] = field(repr=False)

    def require_host(self) -> str:
        if not self.host:
            raise HostError("client", f"the {self.scheme} target has no host")
        return self.host

    def database(self) -> str | None:
        return self.path[0] if self.path else None

    def ca_file(self) -> str | None:
        """`?ca-file=FILE`: the certificates an HTTPS target is verified against instead
        of the system's (a self-signed test certificate), made absolute."""
        name = self.query.get("ca-file")
        if not name:
            return None
        path = os.path.abspath(name)
        if not os.path.isfile(path):
            raise HostError("connect", f"TLS: the CA file {path} does not exist")
        return path


def trust_ca_file(target: Target) -> str | None:
    """Makes the target's CA file the one this process verifies TLS against, for the
    drivers that read it from the environment (OpenSSL's SSL_CERT_FILE, requests'
    REQUESTS_CA_BUNDLE); a host serves one target, so the process is the right scope."""
    path = target.ca_file()
    if path:
        os.environ["SSL_CERT_FILE"] = path
        os.environ["REQUESTS_CA_BUNDLE"] = path
    return path


def parse(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        # urllib's message may quote the URL.
        raise HostError("client", "the target is not a valid URL") from e
    if not parts.scheme:
        raise HostError("client", "the target URL has no scheme")
    return Target(
        scheme=parts.scheme.lower(),
        host=parts.hostname or "",
        port=port,
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=[unquote(p) for p in parts.path.split("/") if p],
        query=dict(parse_qsl(parts.query)),
    )
