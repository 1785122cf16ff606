"""Transfer speed through a real `cairn server` vs dd and cp; server peak RSS; re-push bytes."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import _proc
from bench._transfer_cold import Cold
from bench._transfer_data import GIB, MIB, make_scenarios
from bench._transfer_report import (
    SHORT_NAMES,
    TARGET_DOWNLOAD,
    TARGET_REPUSH_BYTES,
    TARGET_UPLOAD,
    print_report,
    summarize,
)
from bench._transfer_runs import one_repetition


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=1.0, help="size of the one big file")
    parser.add_argument("--files", type=int, default=1000, help="number of small files")
    parser.add_argument("--file-mib", type=float, default=1.0, help="size of each small file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/work"), help="temp data here")
    parser.add_argument("--no-drop-caches", action="store_true", help="keep the page cache")
    parser.add_argument(
        "--touch-gib",
        type=float,
        default=4.0,
        help="memory touched (faulted in, then freed) before every timed transfer, at most "
        "half of MemAvailable; 0: none",
    )
    parser.add_argument(
        "--only",
        choices=("all", "upload", "download"),
        default="all",
        help="time only uploads (dd, hashing, uploads, re-push) or only downloads (cp, downloads)",
    )
    parser.add_argument(
        "--scenario",
        choices=("both", "one_big_file", "many_files"),
        default="both",
        help="run one scenario only",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON (bench/results/transfers.json)"
    )
    args = parser.parse_args(argv)
    _proc.install_sigterm()

    data_bytes = int(args.size_gib * GIB) + int(args.files * args.file_mib * MIB)
    need = 2 * data_bytes + 2 * max(int(args.size_gib * GIB), int(args.files * args.file_mib * MIB))
    free = shutil.disk_usage(args.workdir).free
    if free < need * 1.2:
        print(f"need ~{need / GIB:.1f} GiB free under {args.workdir}, have {free / GIB:.1f}")
        return 2
    started = time.monotonic()
    load_start = _proc.loadavg()
    machine_start = _proc.machine_cpu()
    cold = Cold(enabled=not args.no_drop_caches, touch_bytes=int(args.touch_gib * GIB))
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-transfers-", dir=args.workdir))
    print(f"work dir {work} ({free / GIB:.0f} GiB free, ~{need / GIB:.1f} GiB needed)")
    try:
        scenarios = make_scenarios(work, args.size_gib, args.files, args.file_mib)
        print(f"generated {data_bytes / GIB:.2f} GiB of random data")
        results: dict[str, Any] = {}
        for scenario in scenarios:
            if args.scenario not in ("both", scenario.key):
                continue
            reps = []
            for rep in range(args.repeats):
                t0 = time.monotonic()
                reps.append(one_repetition(scenario, rep, work, cold, args.only))
                r = reps[-1]
                took = time.monotonic() - t0
                rates = ", ".join(
                    f"{short} {r[kind].mb_s:.0f}" for kind, short in SHORT_NAMES if kind in r
                )
                repushed = ""
                if "repush" in r:
                    repushed = f" re-push {r['repush'].extra['wire_bytes']:,} B;"
                print(
                    f"{scenario.label}, run {rep + 1}/{args.repeats} ({took:.0f} s): {rates} MB/s;"
                    f"{repushed} server peak RSS {r['memory'].hwm_mib:.0f} MiB",
                    flush=True,
                )
            results[scenario.key] = summarize(scenario, reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {
        "benchmark": "transfers",
        "machine": _proc.machine(),
        "disk": {"workdir": str(args.workdir), "free_gib_at_start": round(free / GIB, 1)},
        "repeats": args.repeats,
        "only": args.only,
        "drop_caches": cold.worked if cold.enabled else "disabled (--no-drop-caches)",
        "touched_before_each_step_gib": args.touch_gib,
        "server": "cairn server --workers 1, SQLite + local blob store, data dir on the workdir",
        "targets": {
            "upload_over_dd": TARGET_UPLOAD,
            "download_over_cp": TARGET_DOWNLOAD,
            "repush_wire_bytes_below": TARGET_REPUSH_BYTES,
        },
        "scenarios": results,
        "load_start": load_start,
        "load_end": _proc.loadavg(),
        "stolen_s": round((_proc.machine_cpu() - machine_start).stolen, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print_report(summary)
    path = _proc.write_json("transfers", summary, args.out)
    print(f"\nwrote {path} in {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
