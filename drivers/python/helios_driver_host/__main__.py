"""`python -m helios_driver_host DRIVER`: a host process for one session at a time."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

from .adapters import ADAPTERS, load
from .host import Host

# Names the descriptor on which helios-matrix sends `cancel` (docs/driver-host.md).
CANCEL_FD_VAR = "HELIOS_DRIVER_HOST_CANCEL_FD"


def cancel_channel() -> BinaryIO | None:
    """The cancel channel helios-matrix handed over, if any; kept from the driver's own
    child processes (a pipe they held open would never end)."""
    named = os.environ.get(CANCEL_FD_VAR)
    if not named:
        return None
    try:
        fd = int(named)
        os.set_inheritable(fd, False)
        return os.fdopen(fd, "rb")
    except (ValueError, OSError) as e:
        print(f"driver-host: no cancel channel on {CANCEL_FD_VAR}={named}: {e}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ADAPTERS:
        print(
            f"usage: python -m helios_driver_host DRIVER\n  DRIVER: {', '.join(ADAPTERS)}",
            file=sys.stderr,
        )
        return 2
    # The protocol owns stdout. Keep a private handle on it and point file descriptor 1
    # (and sys.stdout) at stderr, so that a print() or a C library's output anywhere in
    # a driver lands on stderr instead of corrupting the stream of responses.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    try:
        adapter = load(args[0])
    except ImportError as e:
        print(f"driver-host: cannot import the {args[0]} driver: {e}", file=sys.stderr)
        return 2
    driver = args[0]
    cancels = cancel_channel()
    code = Host(adapter, sys.stdin.buffer, protocol_out, lambda: load(driver), cancels).run()
    # The session is over (answered `close`, or the input ended): exit now rather than
    # wait for threads a driver may have left behind (heartbeats, telemetry, pools).
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
