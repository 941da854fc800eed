"""helios-matrix driver host for the Python drivers (docs/driver-host.md, protocol 1)."""

from .host import PROTOCOL

__all__ = ["PROTOCOL"]
