"""Every forum scenario, run on the simulator: a failure fails the test, pending skips with its reason."""
import re
from pathlib import Path

import pytest

from forum_replay import runner
from forum_replay.scenario import load

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = runner.discover()
DOC = (ROOT / "docs" / "forum-replay.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_forum_thread(path):
    result = runner.run(load(path))
    if result.status == "pending":
        pytest.skip("pending: " + result.detail)
    assert result.status == "passed", result.detail


def test_every_scenario_names_a_copied_transcript():
    for path in SCENARIOS:
        assert (runner.TRANSCRIPTS / load(path).get("transcript")).is_file(), path.name


def test_at_least_30_threads_have_scenarios():
    threads = {load(p).get("transcript") for p in SCENARIOS}
    assert len(threads) >= 30


def test_every_copied_transcript_is_used_and_the_doc_lists_the_others():
    used = {load(p).get("transcript") for p in SCENARIOS}
    copied = {p.name for p in runner.TRANSCRIPTS.glob("*.txt")}
    assert copied == used
    listed_unused = set(re.findall(r"^\| `(\d{3})[^`]*` \| not used", DOC, re.M))
    assert listed_unused, "docs/forum-replay.md lists the transcripts it could not use"
    assert not listed_unused & {name[:3] for name in used}
