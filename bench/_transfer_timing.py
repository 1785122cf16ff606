"""One timed step of the transfers benchmark: wall seconds, bytes, CPU of server and client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import _proc

MB = 1_000_000


@dataclass
class Sample:
    """One timed transfer: wall seconds, bytes, CPU of the server and of this process."""

    seconds: float
    nbytes: int
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_s(self) -> float:
        return self.nbytes / MB / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "bytes": self.nbytes,
            "mb_s": round(self.mb_s, 1),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "client_cpu_s": round(self.client_cpu_s, 2),
            **self.extra,
        }


def timed(
    action: Callable[[], object], nbytes: int, server: _proc.CairnServer | None = None
) -> Sample:
    """Run `action` once; its wall time and the CPU it cost on both sides."""
    pids = server.pids() if server else []
    server_before = _proc.cpu_seconds(pids)
    client_before = time.process_time()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return Sample(
        seconds,
        nbytes,
        server_cpu_s=_proc.cpu_seconds(pids) - server_before,
        client_cpu_s=time.process_time() - client_before,
    )
