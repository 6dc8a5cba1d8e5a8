"""Judge a mutmut run (``nox -s mutation``): fail unless it tested something and every
mutant that lived is listed as equivalent, with a reason, in the equivalents file.

Run from the repository root after ``mutmut run``. It reads mutmut's result files
(``mutants/**/*.py.meta``) and, through mutmut itself, the change each live mutant made.
An entry in the equivalents file names the function and the change (the removed and
the added lines), not mutmut's number for the mutant: the numbers move when the
function changes, and an entry whose change is no longer made matches nothing, so a
stale list fails instead of hiding a new survivor.

Exit codes: 0 when every mutant was killed or listed; 1 otherwise (nothing ran, none
killed, a mutant untested or unexplained), with what to do next on stderr.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

EQUIVALENTS = Path("tests/safety/mutants_equivalent.toml")
MUTANTS = Path("mutants")

#: mutmut's exit codes by what they mean here (mutmut.stats.status_by_exit_code).
KILLED_CODES = {1, 3, 37}  # a test failed, pytest failed inside, the type checker caught it
TIMEOUT_CODES = {36, -24, 24, 152, 255}  # the tests ran out of time: caught, not proven
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}
NOT_RUN_CODES = {None, 2, 34}  # not checked, interrupted, skipped


class ScoreError(Exception):
    """The run or the equivalents file cannot be judged; the message says what to fix."""


@dataclass(frozen=True)
class Mutant:
    """One mutant: its name, mutmut's exit code for it, and the lines it changed."""

    name: str
    exit_code: int | None
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()

    @property
    def function(self) -> str:
        return self.name.rpartition("__mutmut_")[0]


@dataclass(frozen=True)
class Equivalent:
    function: str
    removed: tuple[str, ...]
    added: tuple[str, ...]
    reason: str

    def matches(self, mutant: Mutant) -> bool:
        return (self.function, self.removed, self.added) == (
            mutant.function,
            mutant.removed,
            mutant.added,
        )


@dataclass
class Verdict:
    total: int = 0
    killed: int = 0
    timed_out: int = 0
    listed: list[Mutant] = field(default_factory=list)
    unexplained: list[Mutant] = field(default_factory=list)
    untested: list[Mutant] = field(default_factory=list)
    not_run: list[Mutant] = field(default_factory=list)
    odd: list[Mutant] = field(default_factory=list)  # suspicious or killed by a signal
    unused: list[Equivalent] = field(default_factory=list)

    @property
    def tested(self) -> int:
        return self.killed + self.timed_out + len(self.listed) + len(self.unexplained)

    def failures(self) -> list[str]:
        """Why the run does not pass, each with what to do; empty when it passes."""
        out = []
        if self.total == 0:
            out.append("mutmut made no mutants: check [tool.mutmut] only_mutate in pyproject.toml")
        elif self.tested == 0:
            out.append("no mutant was tested: run `mutmut run` and read its output")
        elif self.killed == 0:
            out.append("no mutant was killed: the tests did not run against the mutants")
        for label, mutants, advice in (
            ("lived", self.unexplained, "kill it with a test, or list it in " + str(EQUIVALENTS)),
            ("had no test", self.untested, "add a test that reaches it"),
            ("was not run", self.not_run, "run `mutmut run` to the end"),
            ("ended oddly", self.odd, "see `mutmut show NAME` and rerun it"),
        ):
            for mutant in mutants:
                out.append(f"{mutant.name} {label}: {advice}")
        return out


def load_equivalents(text: str) -> list[Equivalent]:
    """The ``[[equivalent]]`` entries of the equivalents file; each needs a reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScoreError(f"{EQUIVALENTS} is not valid TOML: {exc}") from None
    entries = []
    for n, entry in enumerate(data.get("equivalent", []), 1):
        try:
            function, reason = entry["function"], entry["reason"]
            removed, added = tuple(entry["removed"]), tuple(entry["added"])
        except (KeyError, TypeError):
            raise ScoreError(
                f"{EQUIVALENTS} entry {n} needs function, removed, added and reason"
            ) from None
        if not str(reason).strip():
            raise ScoreError(f"{EQUIVALENTS} entry {n} ({function}) gives no reason")
        entries.append(Equivalent(function, removed, added, reason))
    return entries


def judge(mutants: Iterable[Mutant], equivalents: list[Equivalent]) -> Verdict:
    verdict = Verdict()
    used: set[int] = set()
    for mutant in mutants:
        verdict.total += 1
        code = mutant.exit_code
        if code in KILLED_CODES:
            verdict.killed += 1
        elif code in TIMEOUT_CODES:
            verdict.timed_out += 1
        elif code in SURVIVED_CODES:
            match = next((i for i, e in enumerate(equivalents) if e.matches(mutant)), None)
            if match is None:
                verdict.unexplained.append(mutant)
            else:
                used.add(match)
                verdict.listed.append(mutant)
        elif code in NO_TESTS_CODES:
            verdict.untested.append(mutant)
        elif code in NOT_RUN_CODES:
            verdict.not_run.append(mutant)
        else:
            verdict.odd.append(mutant)
    verdict.unused = [e for i, e in enumerate(equivalents) if i not in used]
    return verdict


def changed_lines(diff: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(removed, added) lines of a unified diff, stripped, without its file header."""
    removed, added = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return tuple(removed), tuple(added)


def read_results(root: Path) -> dict[str, tuple[str, int | None]]:
    """mutmut's exit code for each mutant by name, with the source file it belongs to."""
    results: dict[str, tuple[str, int | None]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        try:
            codes: Mapping[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        except (OSError, ValueError, KeyError) as exc:
            raise ScoreError(f"{meta} cannot be read ({exc}): run `mutmut run` again") from None
        source = str(meta.relative_to(root))[: -len(".meta")]
        for name, code in codes.items():
            results[name] = (source, code)
    return results


def collect(
    results: Mapping[str, tuple[str, int | None]], diff: Callable[[str, str], str]
) -> list[Mutant]:
    """Mutants from :func:`read_results`; ``diff(name, path)`` is asked for live ones only."""
    mutants = []
    for name, (path, code) in sorted(results.items()):
        removed: tuple[str, ...] = ()
        added: tuple[str, ...] = ()
        if code in SURVIVED_CODES:
            removed, added = changed_lines(diff(name, path))
        mutants.append(Mutant(name, code, removed, added))
    return mutants


def report(verdict: Verdict) -> str:
    judged = verdict.killed + verdict.timed_out + len(verdict.listed) + len(verdict.unexplained)
    caught = verdict.killed + verdict.timed_out
    score = caught / judged if judged else 0.0
    lines = [
        f"mutants: {verdict.total}; killed {verdict.killed}, timed out {verdict.timed_out}, "
        f"lived {len(verdict.listed) + len(verdict.unexplained)} "
        f"({len(verdict.listed)} listed as equivalent, {len(verdict.unexplained)} not), "
        f"without tests {len(verdict.untested)}, not run {len(verdict.not_run)}, "
        f"odd {len(verdict.odd)}; killed or timed out: {score:.1%} of those tested"
    ]
    for entry in verdict.unused:
        lines.append(
            f"note: the entry for {entry.function} ({' / '.join(entry.added) or 'removal'}) "
            "matched no live mutant: it may be killed now; remove it"
        )
    return "\n".join(lines)


def main(
    root: Path = MUTANTS,
    equivalents_path: Path = EQUIVALENTS,
    diff: Callable[[str, str], str] | None = None,
) -> int:
    try:
        if not root.is_dir():
            raise ScoreError(f"no {root}/ directory: run `mutmut run` first")
        equivalents = load_equivalents(equivalents_path.read_text(encoding="utf-8"))
        if diff is None:
            from mutmut.mutation.diff_apply import get_diff_for_mutant

            def diff(name: str, path: str) -> str:
                return get_diff_for_mutant(name, path=path)

        verdict = judge(collect(read_results(root), diff), equivalents)
    except (ScoreError, OSError) as exc:
        print(f"mutation score: {exc}", file=sys.stderr)
        return 1
    print(report(verdict))
    failures = verdict.failures()
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
