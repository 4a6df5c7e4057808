"""Replay the fuzz corpus (tests/fuzz/corpus/<target>/*.bin: inputs scripts/fuzz found and the
inputs of issue 11) and every target's seeds: each must return or be refused with our error."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mutate  # noqa: E402

TARGETS = mutate.targets()
SAVED = sorted(mutate.CORPUS.glob("*/*.bin"))


def _check(target, data):
    try:
        target.run(data)
    except target.allowed:
        pass


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.name}" for p in SAVED])
def test_saved_input_is_handled(path):
    assert path.parent.name in TARGETS, f"{path.parent.name} is no fuzz target"
    _check(TARGETS[path.parent.name], path.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_is_handled(name):
    for seed in TARGETS[name].seeds():
        _check(TARGETS[name], seed)


def test_the_corpus_holds_the_issue_11_inputs():
    names = {f"{p.parent.name}/{p.name}" for p in SAVED}
    assert {"layout-string/issue11-page-size-0.bin", "cloud-reply/issue11-deep-nesting.bin",
            "config-file/issue11-api-url-without-scheme.bin"} <= names


def _boom(data):
    return 1 // len(data[:0])


def _sleepy(data):
    import time
    time.sleep(30)


def test_the_fuzzer_finds_a_crash_and_a_hang_and_saves_both(tmp_path, monkeypatch):
    """Its own judgement: an exception that is not a refusal is a crash; an input that runs past the
    time bound is a hang (the worker is replaced); both are saved to the corpus."""
    monkeypatch.setattr(mutate, "CORPUS", tmp_path)
    monkeypatch.setitem(mutate.EXTRA, "boom", mutate.Target("boom", lambda: [b"x"], _boom, (ValueError,)))
    monkeypatch.setitem(mutate.EXTRA, "sleepy", mutate.Target("sleepy", lambda: [b"z"], _sleepy, bound_s=0.5))
    stats = mutate.fuzz(0, seed=1, only=["boom", "sleepy", "layout-string"])
    assert (stats["boom"].crashes, stats["sleepy"].hangs, stats["layout-string"].crashes) == (1, 1, 0)
    assert stats["layout-string"].inputs == len(mutate.targets()["layout-string"].seeds())
    assert (tmp_path / "boom" / stats["boom"].found[0].name).read_bytes() == b"x"
    assert "ZeroDivisionError" in stats["boom"].found[0].with_suffix(".txt").read_text()
    assert stats["sleepy"].found[0].name.startswith("hang-")
