"""The transfers benchmark's report: repetitions summed up, then printed against the targets."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from bench import _proc
from bench._transfer_data import MIB, Scenario
from bench._transfer_refs import UPLOAD_MUSTS, md5_later
from bench._transfer_runs import RAW_WORKERS
from bench._transfer_timing import Sample

TARGET_UPLOAD = 0.8
TARGET_DOWNLOAD = 0.5
TARGET_REPUSH_BYTES = MIB

KINDS = (
    ("dd", "dd bs=4M conv=fsync (durable write)"),
    ("dd_processes", "dd per file, one process each"),
    ("cp", "cp (read + page-cache write)"),
    ("sdk_hash", "SDK hashing pass alone (read + sha256)"),
    ("sha256_alone", "sha256 alone, bytes in memory (as parallel)"),
    ("md5_alone", "md5 alone, in memory (as the server: groups side by side)"),
    ("upload_digests", "2 sha256 (+ md5 if inline), CPU on all cores"),
    ("read_alone", "source read, mapped (no copy)"),
    ("loopback_alone", "bytes over TCP on 127.0.0.1 (no HTTP)"),
    ("write_alone", "O_DIRECT write + fsync per file"),
    ("upload_floor", "all of an upload's musts, CPU on all cores"),
    ("sdk_upload", "SDK log_artifact (hash+missing+PUT+commit)"),
    ("sdk_upload_next", "SDK log_artifact, same sizes, new bytes"),
    ("raw_upload", f"raw httpx PUT ({RAW_WORKERS} threads when many files)"),
    ("sdk_download", "SDK artifact().download(cache=False)"),
    ("raw_download", f"raw httpx GET ({RAW_WORKERS} threads when many files)"),
)


RATIOS = (
    ("sdk_upload", "dd"),
    ("sdk_upload_next", "dd"),
    ("raw_upload", "dd"),
    ("sdk_download", "cp"),
    ("raw_download", "cp"),
    ("md5_alone", "dd"),
    ("upload_digests", "dd"),
    ("upload_floor", "dd"),
    ("sha256_alone", "cp"),
)
# The fastest each transfer could possibly be, whatever else it costs: an upload of files the
# server takes the md5 of on the way in (those under MD5_LATER_FROM) cannot end before it
# has computed the md5 of every byte (DESIGN §5), a download before the SDK has checked the
# sha256 of every byte. Where that digest alone, over bytes already in
# memory and with every core, is below the target, no implementation of these rules meets
# it on this machine. Client and server share the machine's cores, so an upload also cannot
# end before the CPU time of its digests (SDK sha256, server sha256, and md5 where inline) has been
# spent on them, nor before that of everything it must do (upload_floor: the digests, the
# read, the move over TCP, the durable write, each done the cheapest way: UPLOAD_MUSTS).
CEILINGS = (
    ("md5_alone_over_dd", "upload <= md5 alone / dd", TARGET_UPLOAD),
    ("upload_digests_over_dd", "upload <= its digests' CPU on all cores / dd", TARGET_UPLOAD),
    ("upload_floor_over_dd", "upload <= all its musts' CPU on all cores / dd", TARGET_UPLOAD),
    ("sha256_alone_over_cp", "download <= sha256 alone / cp", TARGET_DOWNLOAD),
)
TARGETS = (
    ("sdk_upload_over_dd", "SDK upload / dd", TARGET_UPLOAD),
    ("sdk_upload_next_over_dd", "SDK upload, same sizes / dd", TARGET_UPLOAD),
    ("raw_upload_over_dd", "raw upload / dd", TARGET_UPLOAD),
    ("sdk_download_over_cp", "SDK download / cp", TARGET_DOWNLOAD),
    ("raw_download_over_cp", "raw download / cp", TARGET_DOWNLOAD),
)


def summarize(scenario: Scenario, reps: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {"label": scenario.label, "files": len(scenario.files)}
    result["bytes"] = scenario.total
    medians: dict[str, float] = {}
    for kind, label in KINDS:
        samples: list[Sample] = [r[kind] for r in reps if kind in r]
        if not samples:
            continue
        medians[kind] = _proc.median([s.mb_s for s in samples])
        result[kind] = {
            "what": label,
            "median_mb_s": round(medians[kind], 1),
            "median_seconds": round(_proc.median([s.seconds for s in samples]), 3),
            "median_cpu_s": round(_proc.median([s.client_cpu_s for s in samples]), 3),
            "median_busy_share": round(_proc.median([_busy_share(s) for s in samples]), 3),
            "median_stolen_s": round(_proc.median([s.stolen_s for s in samples]), 2),
            "runs": [s.as_dict() for s in samples],
        }
    result["ratios"] = {
        f"{kind}_over_{ref}": round(medians[kind] / medians[ref], 3)
        for kind, ref in RATIOS
        if kind in medians and ref in medians
    }
    repush: list[Sample] = [r["repush"] for r in reps if "repush" in r]
    if repush:
        result["repush"] = {
            "median_wire_bytes": int(_proc.median([s.extra["wire_bytes"] for s in repush])),
            "median_seconds": round(_proc.median([s.seconds for s in repush]), 3),
            "runs": [s.as_dict() for s in repush],
        }
    delays = [r["md5_after_s"] for r in reps if "md5_after_s" in r]
    if delays:
        result["md5_after_push"] = {
            "median_seconds": round(_proc.median(delays), 3),
            "runs": [round(d, 3) for d in delays],
        }
    if md5_later(scenario.size):  # the md5 then bounds nothing: it is taken afterwards
        result["ratios"].pop("md5_alone_over_dd", None)
    result["md5_later"] = md5_later(scenario.size)
    memories: list[_proc.Memory] = [r["memory"] for r in reps]
    result["server_memory"] = {
        "peak_hwm_mib": max(m.hwm_mib for m in memories),
        "median_hwm_mib": _proc.median([m.hwm_mib for m in memories]),
        "runs": [m.as_dict() for m in memories],
    }
    return result


def _busy_share(sample: Sample) -> float:
    """The share of the machine's CPU (all cores, over the step's wall time) that was busy."""
    return sample.machine_busy_s / (sample.seconds * (os.cpu_count() or 1))


# The steps whose machine load the report shows: the transfers and their references.
MACHINE_ROWS = ("dd", "cp", "sdk_upload", "sdk_upload_next", "raw_upload", "sdk_download")


def _machine_rows(scenarios: dict[str, dict[str, Any]]) -> None:
    """How busy the whole machine was during each transfer, and the CPU the host took."""
    keys = list(scenarios)
    cores = os.cpu_count() or 1
    print()
    print(
        f"{f'Machine during the step: {cores} cores busy / stolen':46}"
        + "".join(f"{scenarios[k]['label']:>34}" for k in keys)
    )
    for kind in MACHINE_ROWS:
        if any(kind in scenarios[k] for k in keys):
            _kind_row(
                scenarios,
                kind,
                dict(KINDS)[kind],
                lambda e: f"{e['median_busy_share']:.0%} busy, {e['median_stolen_s']:.2f} s stolen",
            )


def _kind_row(
    scenarios: dict[str, dict[str, Any]],
    kind: str,
    label: str,
    cell: Callable[[dict[str, Any]], str],
) -> None:
    """One row of a table: ``cell`` of each scenario's entry for ``kind`` ('-' where none)."""
    cells = [
        f"{'-':>34}" if (entry := scenarios[k].get(kind)) is None else cell(entry).rjust(34)
        for k in scenarios
    ]
    print(f"{label:46}" + "".join(cells))


def _throughput_cell(entry: dict[str, Any]) -> str:
    runs = ", ".join(f"{r['mb_s']:.0f}" for r in entry["runs"])
    return f"{entry['median_mb_s']:>14.1f} [{runs}]"


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def _ratio_rows(
    scenarios: dict[str, dict[str, Any]],
    title: str,
    rows: Sequence[tuple[str, str, float]],
    words: tuple[str, str],
) -> None:
    """A table of ratios, each marked with ``words[0]`` where it meets its target."""
    keys = list(scenarios)
    print(f"{title:46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys))
    for key, label, target in rows:
        cells = []
        for k in keys:
            value = scenarios[k]["ratios"].get(key)
            if value is None:
                cells.append(f"{'-':>34}")
                continue
            cells.append(f"{value:.2f} {words[0] if value >= target else words[1]}".rjust(34))
        print(f"{f'{label} (>= {target})':46}" + "".join(cells))


def _floor_rows(scenarios: dict[str, dict[str, Any]]) -> None:
    """The CPU seconds of each thing an upload must do, timed alone (medians)."""
    keys = [k for k in scenarios if "upload_floor" in scenarios[k]]
    if not keys:
        return
    print()
    print(
        f"{'An upload must, CPU seconds (median)':46}"
        + "".join(f"{scenarios[k]['label']:>34}" for k in keys)
    )
    for kind, times, label in UPLOAD_MUSTS:
        cells = "".join(
            f"{scenarios[k][kind]['median_cpu_s'] * times:>34.2f}"
            if kind != "md5_alone" or not scenarios[k]["md5_later"]
            else f"{scenarios[k][kind]['median_cpu_s']:.2f} after the upload".rjust(34)
            for k in keys
        )
        print(f"{label:46}{cells}")
    cores = os.cpu_count() or 1
    print(
        f"{f'all of them / {cores} cores: the least wall time':46}"
        + "".join(f"{scenarios[k]['upload_floor']['median_seconds']:>32.2f} s" for k in keys)
    )


def print_report(summary: dict[str, Any]) -> None:
    scenarios: dict[str, dict[str, Any]] = summary["scenarios"]
    keys = list(scenarios)
    print()
    print("Throughput, MB/s (10^6 bytes/s), median of", summary["repeats"], "runs [all runs]")
    head = f"{'':46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys)
    print(head)
    for kind, label in KINDS:
        _kind_row(scenarios, kind, label, _throughput_cell)
    print()
    _ratio_rows(scenarios, "Ratio (target)", TARGETS, ("OK", "MISSED"))
    print()
    _ratio_rows(
        scenarios,
        "Ceiling from what the work costs (target)",
        CEILINGS,
        ("not ruled out", "RULED OUT"),
    )
    _floor_rows(scenarios)
    _machine_rows(scenarios)
    print()
    print(f"{'Server (1 worker)':46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys))
    print(
        f"{'peak RSS, VmHWM of server tree, MiB (max)':46}"
        + "".join(f"{scenarios[k]['server_memory']['peak_hwm_mib']:>34.1f}" for k in keys)
    )
    if all("md5_after_push" in scenarios[k] for k in keys):
        print(
            f"{'md5 recorded after the push ended, s (median)':46}"
            + "".join(f"{scenarios[k]['md5_after_push']['median_seconds']:>34.2f}" for k in keys)
        )
    if all("repush" in scenarios[k] for k in keys):
        print(
            f"{'re-push identical content: wire bytes':46}"
            + "".join(
                f"{scenarios[k]['repush']['median_wire_bytes']:>26,} "
                f"{_verdict(scenarios[k]['repush']['median_wire_bytes'] < TARGET_REPUSH_BYTES):>7}"
                for k in keys
            )
        )
        print(
            f"{'re-push identical content: seconds':46}"
            + "".join(f"{scenarios[k]['repush']['median_seconds']:>34.2f}" for k in keys)
        )
    big = scenarios[keys[0]]["server_memory"]["peak_hwm_mib"]
    many = scenarios[keys[-1]]["server_memory"]["peak_hwm_mib"]
    print(
        f"\npeak RSS {keys[0]} / {keys[-1]}: {big / many:.2f} "
        f"(must not grow with file size: {_verdict(big <= many * 1.15)})"
    )
    print(
        f"page cache dropped before every timed transfer: {summary['drop_caches']}, then "
        f"{summary['touched_before_each_step_gib']} GiB of memory touched; "
        f"load average start {summary['load_start']} end {summary['load_end']}; "
        f"CPU stolen by the host over the whole run: {summary['stolen_s']} s"
    )


SHORT_NAMES = (
    ("dd", "dd"),
    ("cp", "cp"),
    ("sdk_upload", "SDK up"),
    ("sdk_upload_next", "SDK up next"),
    ("raw_upload", "raw up"),
    ("sdk_download", "SDK down"),
    ("raw_download", "raw down"),
)
