"""Target URLs, as the user gave them, split into what drivers' connect calls take. A
target holds secrets: nothing here prints one, and errors name the part that is wrong,
never the URL."""

from __future__ import annotations

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
