"""cairn._md5: md5s taken side by side (native cairn._md5x) agree with hashlib, byte for byte."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import threading

import pytest

from cairn import _md5, _md5x

# Sizes around the block (64 bytes) and across the lanes' runs of blocks.
EDGES = [0, 1, 55, 56, 63, 64, 65, 119, 127, 128, 129, 1000, 4096, 65_537]


# The native engine's code paths, slowest first: each CPU runs the last one it has.
ENGINES = ["portable", "avx2", "avx512vl"]
# Inputs of very different lengths: lanes join and leave at block edges and between them.
LANE_SIZES = [1 << 20, 3, 64, 200_000, 0, 5_000_000, 65, 1_048_575, 9, 2_000_001, 640, 128]
# Run in a process of its own, argv[1] being JSON [seed, sizes]: random inputs of those sizes,
# each in two buffers, hashed by update_many; prints the engine, its lanes and the digests.
ENGINE_CHECK = """
import json, random, sys
from cairn import _md5x
seed, sizes = json.loads(sys.argv[1])
rng = random.Random(seed)
data = [rng.randbytes(n) for n in sizes]
states = [_md5x.Md5() for _ in data]
_md5x.update_many([(md5, [d[: len(d) // 3], d[len(d) // 3 :]]) for md5, d in zip(states, data)])
print(json.dumps([_md5x.ENGINE, _md5x.LANES, [m.hexdigest() for m in states]]))
"""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux)."""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def engines_of_this_cpu() -> list[str]:
    """The engines this machine can run: eight lanes need AVX2, their one-instruction steps
    AVX-512F and VL as well."""
    flags = cpu_flags()
    if "avx2" not in flags:
        return ENGINES[:1]
    return ENGINES if {"avx512f", "avx512vl"} <= flags else ENGINES[:2]


def avx2() -> bool:
    """Whether this machine's CPU has AVX2 (Linux), which the engine's eight lanes need."""
    return "avx2" in engines_of_this_cpu()


def reference(*parts: bytes) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def test_the_native_engine_is_built() -> None:
    # `pip install -e .` builds it where a C compiler is found (setup.py); without one the
    # server falls back to hashlib, several times slower on files uploaded together.
    assert _md5.NATIVE, "cairn._md5x was not built: install gcc, then `make` again"
    lanes, kind = (8, "cairn._md5x") if avx2() else (1, "_hashlib")
    assert (_md5.LANES, type(_md5.new()).__module__) == (lanes, kind)
    assert engines_of_this_cpu()[-1] == _md5x.ENGINE


@pytest.mark.parametrize("engine", engines_of_this_cpu())
def test_each_engine_this_cpu_runs_matches_hashlib(engine: str) -> None:
    # CAIRN_MD5_ENGINE caps the engine when the module loads: a new process for each
    seed = 11
    run = subprocess.run(
        [sys.executable, "-c", ENGINE_CHECK, json.dumps([seed, LANE_SIZES])],
        env={**os.environ, "CAIRN_MD5_ENGINE": engine},
        capture_output=True,
        text=True,
        check=True,
    )
    used, lanes, digests = json.loads(run.stdout)
    rng = random.Random(seed)
    expected = [reference(rng.randbytes(n)) for n in LANE_SIZES]
    assert (used, lanes) == (engine, 1 if engine == "portable" else 8)
    assert digests == expected


@pytest.mark.parametrize("count", [0, 1, 2, 7, 8, 9, 17, 40])
def test_many_inputs_side_by_side_match_hashlib(count: int) -> None:
    rng = random.Random(count)
    pairs: list[tuple[_md5.Md5, list[_md5.Bytes]]] = []
    expected = []
    for i in range(count):
        md5 = _md5.new()
        before = rng.randbytes(rng.choice(EDGES))
        md5.update(before)  # a state that already holds bytes, some of a block
        parts = [rng.randbytes(rng.choice([*EDGES, rng.randrange(300_000)])) for _ in range(i % 4)]
        views: list[_md5.Bytes] = [
            memoryview(p) if j % 3 == 0 else bytearray(p) if j % 3 == 1 else p
            for j, p in enumerate(parts)
        ]
        pairs.append((md5, views))
        expected.append(reference(before, *parts))
    _md5.update_many(pairs)
    assert [md5.hexdigest() for md5, _ in pairs] == expected


def test_inputs_of_very_different_lengths_leave_and_join_the_lanes() -> None:
    rng = random.Random(7)
    data = [rng.randbytes(n) for n in LANE_SIZES]
    states = [_md5.new() for _ in data]
    _md5.update_many([(md5, [d]) for md5, d in zip(states, data, strict=True)])
    assert [m.hexdigest() for m in states] == [reference(d) for d in data]


def test_slices_of_one_buffer_split_anywhere_give_the_digest_of_the_whole() -> None:
    body = random.Random(3).randbytes(10_000)
    view = memoryview(body)
    cuts = [(0, 1, 64, 65, 9_999), (63,), (128, 129), (5_000,), ()]
    states = [_md5.new() for _ in cuts]
    pairs: list[tuple[_md5.Md5, list[_md5.Bytes]]] = []
    for md5, points in zip(states, cuts, strict=True):
        bounds = [0, *points, len(body)]
        pairs.append((md5, [view[a:b] for a, b in itertools.pairwise(bounds)]))
    _md5.update_many(pairs)
    assert {m.hexdigest() for m in states} == {reference(body)}


def test_a_digest_can_be_read_and_the_md5_go_on() -> None:
    md5 = _md5.new()
    md5.update(b"abc")
    assert md5.hexdigest() == reference(b"abc")
    _md5.update_many([(md5, [b"def" * 100])])
    assert md5.hexdigest() == reference(b"abc", b"def" * 100)
    assert md5.hexdigest() == reference(b"abc", b"def" * 100), "reading it changes nothing"


def test_the_same_md5_twice_in_one_call_is_refused_and_nothing_stays_locked() -> None:
    md5, other = _md5x.Md5(), _md5x.Md5()
    with pytest.raises(RuntimeError, match="another call"):
        _md5x.update_many([(other, [b"x"]), (md5, [b"a"]), (md5, [b"b"])])
    _md5x.update_many([(md5, [b"abc"]), (other, [b"x"])])
    assert (md5.hexdigest(), other.hexdigest()) == (reference(b"abc"), reference(b"x"))


def test_a_digest_asked_for_while_the_md5_is_being_updated_is_refused() -> None:
    md5, started = _md5x.Md5(), threading.Event()
    big = bytes(64 << 20)
    refused: list[str] = []

    def read_while_hashing() -> None:
        started.wait()
        while not refused:
            try:
                md5.hexdigest()
            except RuntimeError as exc:
                refused.append(str(exc))

    reader = threading.Thread(target=read_while_hashing)
    reader.start()
    started.set()
    for _ in range(20):  # until the reader catches the update in the act (the GIL is free)
        _md5x.update_many([(md5, [big])])
        if refused:
            break
    refused.append("done")
    reader.join()
    assert "another call" in refused[0]


def test_buffers_from_a_generator_that_empties_the_list_are_taken_safely() -> None:
    pairs: list[tuple[_md5x.Md5, object]] = []

    def emptying() -> object:
        pairs.clear()  # frees the md5s unless the engine holds them
        yield b"abc"

    first, second = _md5x.Md5(), _md5x.Md5()
    pairs += [(first, emptying()), (second, [b"x" * 1000])]
    _md5x.update_many(pairs)  # type: ignore[arg-type]
    assert (first.hexdigest(), second.hexdigest()) == (reference(b"abc"), reference(b"x" * 1000))


def test_hashlib_md5s_mixed_in_are_hashed_too() -> None:
    mine, theirs = _md5.new(), hashlib.md5(usedforsecurity=False)
    _md5.update_many([(theirs, [b"ab", b"c"]), (mine, [b"xyz" * 50])])
    assert (theirs.hexdigest(), mine.hexdigest()) == (reference(b"abc"), reference(b"xyz" * 50))


@pytest.mark.parametrize(
    "pairs",
    [
        [("not an md5", [b"x"])],
        [(hashlib.md5(usedforsecurity=False), [b"x"])],
        [(None, [b"x"])],
        ["no pair"],
        [(0,)],
        [(_md5x.Md5(), 5)],
    ],
)
def test_the_engine_takes_nothing_but_pairs_of_its_md5_and_buffers(pairs: list[object]) -> None:
    with pytest.raises(TypeError):
        _md5x.update_many(pairs)  # type: ignore[arg-type]


def test_a_buffer_that_is_not_bytes_is_a_type_error_and_the_md5_is_unchanged() -> None:
    md5 = _md5x.Md5()
    with pytest.raises(TypeError):
        _md5x.update_many([(md5, [b"abc", "text"])])  # type: ignore[list-item]
    assert md5.hexdigest() == reference()


def test_threads_hashing_their_own_md5s_at_once_get_the_right_digests() -> None:
    data = [random.Random(i).randbytes(300_000 + i) for i in range(16)]
    results: dict[int, str] = {}

    def work(start: int) -> None:
        states = [_md5.new() for _ in range(8)]
        _md5.update_many([(m, [data[start + i]]) for i, m in enumerate(states)])
        results.update({start + i: m.hexdigest() for i, m in enumerate(states)})

    threads = [threading.Thread(target=work, args=(start,)) for start in (0, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(16)] == [reference(d) for d in data]


def test_without_the_native_engine_hashlib_does_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_md5, "_md5x", None)
    states = [_md5.new() for _ in range(3)]
    assert all(isinstance(m, type(hashlib.md5(usedforsecurity=False))) for m in states)
    parts = [[b"a", b"bc"], [], [b"x" * 1000]]
    _md5.update_many(list(zip(states, parts, strict=True)))
    assert [m.hexdigest() for m in states] == [reference(*p) for p in parts]
