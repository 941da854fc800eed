"""helios-matrix driver host for the Python drivers (docs/driver-host.md)."""

from .protocol import PROTOCOL

__all__ = ["PROTOCOL"]
