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


# `?encrypt=` as the tds executor reads it (src/exec/tds.rs), in FreeTDS's names: its
# `encryption` setting (freetds.conf, pymssql's `encryption=`, the ODBC driver's
# `Encryption=`).
_ENCRYPTION = {
    "false": "off",
    "no": "off",
    "off": "off",
    "true": "require",
    "yes": "require",
    "on": "require",
    "require": "require",
    "request": "request",
}


@dataclass(frozen=True)
class SqlServerTarget:
    """`mssql://USER:PASSWORD@HOST[:1433][/DATABASE][?encrypt=…&tds_version=…]` (or
    `sqlserver://`), for the drivers that reach SQL Server through FreeTDS."""

    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    # None: the login's default database.
    database: str | None
    # FreeTDS's `encryption`: `off` unless the target asks for TLS with `encrypt=true`
    # (`require`) or `encrypt=request`. `off` makes FreeTDS offer ENCRYPT_NOT_SUP, as the
    # tds executor (which has no TLS) always does, and what a server without TLS needs.
    encryption: str
    # FreeTDS's `tds version` (`7.4`); None leaves it to FreeTDS.
    tds_version: str | None


def sqlserver_target(url: str) -> SqlServerTarget:
    t = parse(url)
    if t.scheme not in ("mssql", "sqlserver"):
        raise HostError("client", f"a {t.scheme}:// target is not a SQL Server URL")
    unknown = sorted(set(t.query) - {"encrypt", "tds_version"})
    if unknown:
        raise HostError(
            "client",
            f"unknown SQL Server target parameter(s) {', '.join(unknown)} "
            "(the hosts take encrypt and tds_version)",
        )
    encrypt = t.query.get("encrypt", "false").lower()
    if encrypt not in _ENCRYPTION:
        raise HostError("client", f"encrypt={encrypt}: expected false, true, request or require")
    return SqlServerTarget(
        host=t.require_host(),
        port=t.port or 1433,
        user=t.user,
        password=t.password,
        database=t.database(),
        encryption=_ENCRYPTION[encrypt],
        tds_version=t.query.get("tds_version") or None,
    )
