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
    # the whole machine over the step: busy and stolen CPU seconds, all cores
    machine_busy_s: float = 0.0
    stolen_s: float = 0.0
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
            "machine_busy_s": round(self.machine_busy_s, 2),
            "stolen_s": round(self.stolen_s, 2),
            **self.extra,
        }


def timed(
    action: Callable[[], object], nbytes: int, server: _proc.CairnServer | None = None
) -> Sample:
    """Run `action` once; its wall time, the CPU it cost on both sides, and what the whole
    machine spent and had stolen meanwhile."""
    pids = server.pids() if server else []
    server_before = _proc.cpu_seconds(pids)
    client_before = time.process_time()
    machine_before = _proc.machine_cpu()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    machine = _proc.machine_cpu() - machine_before
    return Sample(
        seconds,
        nbytes,
        server_cpu_s=_proc.cpu_seconds(pids) - server_before,
        client_cpu_s=time.process_time() - client_before,
        machine_busy_s=machine.busy,
        stolen_s=machine.stolen,
    )
