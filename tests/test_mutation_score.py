"""benchmarks/mutation_score.py, the judge of ``nox -s mutation``: it fails when nothing
ran, when no mutant was killed, and when a mutant lived without an entry that explains it."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "mutation_score", ROOT / "benchmarks" / "mutation_score.py"
)
assert _spec is not None
assert _spec.loader is not None
score = importlib.util.module_from_spec(_spec)
sys.modules["mutation_score"] = score  # its dataclasses look their module up
_spec.loader.exec_module(score)

CHECKS = "tradingagents_brokers.safety.checks"
RATE = f"{CHECKS}.xǁRateLimitǁdecide"
DIFF = """--- src/tradingagents_brokers/safety/checks.py
+++ src/tradingagents_brokers/safety/checks.py
@@ -1,3 +1,3 @@
 def decide(self, request, context):
-    for seconds, key in ((1, "max_orders_per_second"), (60, "max_orders_per_minute")):
+    for seconds, key in ((2, "max_orders_per_second"), (60, "max_orders_per_minute")):
         limit = int(context.config[key])"""
ENTRY = f"""
[[equivalent]]
function = '{RATE}'
removed = ['for seconds, key in ((1, "max_orders_per_second"), (60, "max_orders_per_minute")):']
added = ['for seconds, key in ((2, "max_orders_per_second"), (60, "max_orders_per_minute")):']
reason = "a reason"
"""


def write_run(root: Path, codes: dict[str, int | None]) -> Path:
    """A mutants/ directory as mutmut leaves it, with ``codes`` for checks.py."""
    meta = root / "mutants" / "src" / "tradingagents_brokers" / "safety" / "checks.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))
    return root / "mutants"


def run(tmp_path, codes, equivalents=""):
    mutants = write_run(tmp_path, codes)
    listed = tmp_path / "equivalents.toml"
    listed.write_text(equivalents)
    return score.main(mutants, listed, diff=lambda name, path: DIFF)


def test_a_run_where_every_mutant_is_killed_or_listed_passes(tmp_path, capsys):
    codes = {f"{RATE}__mutmut_1": 0, f"{RATE}__mutmut_2": 1, f"{RATE}__mutmut_3": 36}
    assert run(tmp_path, codes, ENTRY) == 0
    out = capsys.readouterr().out
    assert "mutants: 3; killed 1, timed out 1, lived 1 (1 listed as equivalent, 0 not)" in out


def test_no_mutant_killed_fails(tmp_path, capsys):
    # what nox -s mutation reported as success: stats never collected, nothing judged
    assert run(tmp_path, {f"{RATE}__mutmut_1": None, f"{RATE}__mutmut_2": None}) == 1
    err = capsys.readouterr().err
    assert "FAIL no mutant was tested" in err
    assert f"FAIL {RATE}__mutmut_1 was not run" in err


def test_only_listed_survivors_and_none_killed_fails(tmp_path, capsys):
    assert run(tmp_path, {f"{RATE}__mutmut_1": 0}, ENTRY) == 1
    assert "FAIL no mutant was killed" in capsys.readouterr().err


def test_an_unlisted_survivor_fails_and_is_named(tmp_path, capsys):
    codes = {f"{RATE}__mutmut_1": 0, f"{RATE}__mutmut_2": 1}
    assert run(tmp_path, codes) == 1
    err = capsys.readouterr().err
    assert f"FAIL {RATE}__mutmut_1 lived: kill it with a test, or list it in" in err


def test_an_entry_for_another_change_does_not_cover_a_survivor(tmp_path, capsys):
    # the same function, another change: the list is stale for this mutant
    other = ENTRY.replace('(60, "max_orders_per_minute")):\']\nreason', "(61, x)):']\nreason")
    assert other != ENTRY
    codes = {f"{RATE}__mutmut_1": 0, f"{RATE}__mutmut_2": 1}
    assert run(tmp_path, codes, other) == 1
    captured = capsys.readouterr()
    assert f"{RATE}__mutmut_1 lived" in captured.err
    assert "matched no live mutant" in captured.out


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ({}, "mutmut made no mutants"),
        ({f"{RATE}__mutmut_1": 33, f"{RATE}__mutmut_2": 1}, "had no test"),
        ({f"{RATE}__mutmut_1": -11, f"{RATE}__mutmut_2": 1}, "ended oddly"),
    ],
)
def test_untested_odd_or_no_mutants_fail(tmp_path, capsys, codes, message):
    assert run(tmp_path, codes) == 1
    assert message in capsys.readouterr().err


def test_no_run_at_all_fails_with_what_to_do(tmp_path, capsys):
    listed = tmp_path / "equivalents.toml"
    listed.write_text("")
    assert score.main(tmp_path / "mutants", listed, diff=lambda n, p: DIFF) == 1
    assert "run `mutmut run` first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[equivalent]]\nfunction = 'f'\n", "needs function, removed, added and reason"),
        (ENTRY.replace('"a reason"', '" "'), "gives no reason"),
        ("[[equivalent]\n", "is not valid TOML"),
    ],
)
def test_a_bad_equivalents_file_fails(tmp_path, capsys, text, message):
    assert run(tmp_path, {f"{RATE}__mutmut_2": 1}, text) == 1
    assert message in capsys.readouterr().err


def test_the_committed_equivalents_file_reads_and_every_entry_has_a_reason():
    path = ROOT / "tests" / "safety" / "mutants_equivalent.toml"
    entries = score.load_equivalents(path.read_text(encoding="utf-8"))
    assert len(entries) == len(tomllib.loads(path.read_text(encoding="utf-8"))["equivalent"])
    assert entries
    assert all(len(e.reason) > 40 for e in entries)
    assert all(e.function.startswith("tradingagents_brokers.safety.") for e in entries)
