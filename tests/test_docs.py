"""Every example in the README and docs/ runs, in order, page by page; every module's doctests pass.

Each page runs as a reader would run it: its blocks one after another, in one fresh
directory with a fresh state home, each ``python`` block as a script of its own
(configuration set by an earlier block does not carry over; files do).

- ``python`` blocks are executed;
- ``console`` blocks run each ``$ tradingagents-brokers ...`` line through the CLI;
  the lines under a command, if any, are its output;
- a ``text`` block right after a ``python`` or ``console`` block is that block's
  output;
- shown output is compared with what was printed (``...`` stands for any text,
  runs of white space compare equal); a command whose shown output starts with
  ``error:`` must fail, every other command must exit 0;
- ``toml`` blocks must load as configuration, ``json`` blocks must parse;
- ``bash`` blocks (installation and shell lines) are not run here, but every pip
  line in them installs from the source tree, never from an index, and every
  ``TRADINGAGENTS_BROKERS_`` variable a page names is one the package reads.
"""

from __future__ import annotations

import doctest
import importlib
import json
import re
import shlex
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tradingagents_brokers import load_config
from tradingagents_brokers.cli.main import main
from tradingagents_brokers.config import DEFAULT_CONFIG, reset_config
from tradingagents_brokers.environment import PREFIX, SETTINGS
from tradingagents_brokers.routing import clear_route_cache

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*\n?", re.S | re.M)
#: Block kinds the runner executes (or loads); bash is checked, text is output.
RUN = ("python", "console", "toml", "json")
#: The fewest blocks the runner may run: a guard against a parser that silently finds none.
MINIMUM_RUN = 45
CHECKER = doctest.OutputChecker()
COMPARE = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    kind: str
    code: str
    line: int
    output: str | None = None


def page_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a page in order; a text block right after code is its output."""
    text = path.read_text()
    blocks: list[Block] = []
    end = 0
    for match in FENCE.finditer(text):
        kind, code = match.group(1), match.group(2)
        between = text[end : match.start()]
        follows_code = blocks and blocks[-1].kind in ("python", "console")
        if kind == "text" and follows_code and not between.strip() and blocks[-1].output is None:
            blocks[-1].output = code
            end = match.end()
            continue
        line = text[: match.start()].count("\n") + 2
        blocks.append(Block(kind, code, line))
        end = match.end()
    return blocks


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _same(shown: str, printed: str) -> bool:
    return CHECKER.check_output(shown.strip() + "\n", printed.strip() + "\n", COMPARE)


def _commands(block: Block) -> list[tuple[str, str]]:
    """(command, the output shown under it) for each ``$ `` line of a console block."""
    found: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"line {block.line}: text before the first command: {line!r}")
    return [(command, "\n".join(lines)) for command, lines in found]


def _fresh_process_state() -> None:
    """What a new script starts from: no set_config() overrides, no cached brokers."""
    clear_route_cache()
    reset_config()


def _run_python(block: Block, page: str, capsys) -> None:
    _fresh_process_state()
    capsys.readouterr()
    code = compile(block.code, f"{page}:{block.line}", "exec")
    exec(code, {"__name__": "__doc_example__"})  # noqa: S102
    printed = capsys.readouterr().out
    if block.output is not None:
        assert _same(block.output, printed), (
            f"{page}:{block.line} printed\n{printed}\nbut the page shows\n{block.output}"
        )


def _run_console(block: Block, page: str, capsys) -> None:
    commands = _commands(block)
    assert commands, f"{page}:{block.line}: a console block without a $ command"
    for index, (command, shown) in enumerate(commands):
        if index == len(commands) - 1 and block.output is not None:
            shown = block.output
        argv = shlex.split(command)
        assert argv[0] == "tradingagents-brokers", f"{page}:{block.line}: {command}"
        _fresh_process_state()
        capsys.readouterr()
        code = main(argv[1:])
        captured = capsys.readouterr()
        printed = captured.out + captured.err
        fails = shown.strip().startswith("error:")
        assert (code != 0) == fails, f"{page}:{block.line}: `{command}` exited {code}\n{printed}"
        if shown.strip():
            assert _same(shown, printed), (
                f"{page}:{block.line}: `{command}` printed\n{printed}\nbut the page shows\n{shown}"
            )


def _run_toml(block: Block, page: str, tmp_path: Path) -> None:
    data = tomllib.loads(block.code)
    if "project" in data:
        assert "tradingagents_brokers" in data["project"]["entry-points"], page
        return
    path = tmp_path / f"example-{block.line}.toml"
    path.write_text(block.code)
    assert load_config(path=path, environ={}), page


@pytest.mark.parametrize("path", PAGES, ids=_name)
def test_a_pages_examples_run_in_order_in_a_fresh_directory(path, tmp_path, monkeypatch, capsys):
    page = _name(path)
    workdir = tmp_path / "reader"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    ran = 0
    for block in page_blocks(path):
        if block.kind == "python":
            _run_python(block, page, capsys)
        elif block.kind == "console":
            _run_console(block, page, capsys)
        elif block.kind == "toml":
            _run_toml(block, page, tmp_path)
        elif block.kind == "json":
            json.loads(block.code)
        else:
            continue
        ran += 1
    assert ran == sum(b.kind in RUN for b in page_blocks(path))
    _fresh_process_state()


def test_the_runner_runs_every_block_it_finds_and_says_how_many(capsys):
    counts: Counter[str] = Counter()
    outputs = 0
    for path in PAGES:
        for block in page_blocks(path):
            counts[block.kind] += 1
            outputs += block.output is not None
            if block.kind == "console":
                outputs += sum(bool(shown.strip()) for _, shown in _commands(block))
    ran = sum(counts[kind] for kind in RUN)
    with capsys.disabled():
        print(
            f"\ndoc examples: {ran} blocks run on {len(PAGES)} pages "
            f"({', '.join(f'{counts[k]} {k}' for k in RUN)}), {outputs} shown outputs "
            f"compared, {counts['bash']} bash blocks checked"
        )
    assert ran >= MINIMUM_RUN
    assert outputs >= 5


def test_the_parser_pairs_output_with_the_block_above_it(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\n```text\n1\n```\n\nprose\n\n```text\nnot output\n```\n"
        "```console\n$ tradingagents-brokers plugins\nsim ...\n```\n"
    )
    blocks = page_blocks(page)
    assert [b.kind for b in blocks] == ["python", "text", "console"]
    assert blocks[0].output == "1\n"
    assert blocks[1].output is None
    assert _commands(blocks[2]) == [("tradingagents-brokers plugins", "sim ...")]


def test_shown_output_is_compared_not_skimmed():
    assert _same("code: insufficient_funds", "code:   insufficient_funds\n")
    assert _same("id ... filled", "id 1f2e3d filled")
    assert not _same("insufficient_funds", "order_rejected")


def test_a_block_that_prints_what_the_page_does_not_show_fails(capsys):
    block = Block("python", "print('order_rejected')\n", 1, "insufficient_funds\n")
    with pytest.raises(AssertionError, match="but the page shows"):
        _run_python(block, "page.md", capsys)


def test_a_command_shown_as_working_must_exit_0_and_one_shown_failing_must_fail(capsys):
    works = Block("console", "$ tradingagents-brokers account\n", 1)
    with pytest.raises(AssertionError, match="exited 2"):
        _run_console(works, "page.md", capsys)  # the default broker, alpaca, is not installed
    fails = Block("console", "$ tradingagents-brokers account\nerror: no broker named...\n", 1)
    _run_console(fails, "page.md", capsys)


PIP = re.compile(r"\bpip install\b(.*)")


def test_install_lines_install_from_the_source_tree():
    """No release is on an index yet: every pip line names a local path (or a tool)."""
    files = [*PAGES, *ROOT.glob("plugins/*/README.md")]
    tools = {"nox", "pytest"}
    wrong = []
    for path in files:
        for block in page_blocks(path):
            if block.kind not in ("bash", "console"):
                continue
            for match in PIP.finditer(block.code):
                line = re.split(r"&&|;|\||#", match.group(1))[0]
                words = [w for w in shlex.split(line) if w[0] != "-"]
                if not all(w.strip("'\"").startswith(".") or w in tools for w in words):
                    wrong.append(f"{_name(path)}:{block.line}: {match.group(0)}")
        prose = FENCE.sub("", path.read_text())
        if re.search(r"pip install '?tradingagents-brokers", prose):
            wrong.append(f"{_name(path)}: prose names an index install")
    assert wrong == []


def test_every_variable_the_docs_name_is_one_the_package_reads():
    known = {PREFIX + key.upper() for key in DEFAULT_CONFIG} | set(SETTINGS)
    files = [*PAGES, *ROOT.glob("plugins/*/README.md"), ROOT / "CHANGELOG.md"]
    named = set()
    for path in files:
        # python blocks may spell one wrong on purpose, to show the error it gets
        text = "".join(b.code for b in page_blocks(path) if b.kind != "python")
        text += FENCE.sub("", path.read_text())
        named |= set(re.findall(rf"\b{PREFIX}[A-Z][A-Z0-9_]*\b", text))
    assert named
    assert sorted(named - known) == []


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m pip install . && tradingagents-brokers demo" in readme
    assert "python3 -m pip install nox && nox" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^nox$", ci, re.M)


MODULES_WITH_EXAMPLES = [
    "tradingagents_brokers",
    "tradingagents_brokers.orders",
    "tradingagents_brokers.decisions",
    "tradingagents_brokers.routing",
    "tradingagents_brokers.sim.matching",
    "tradingagents_brokers.approvals",
    "tradingagents_brokers._numbers",
    "tradingagents_brokers.testing.agents",
    "tradingagents_brokers.integrations.tradingagents",
]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_doctests(name, tmp_path):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"doctest_tmp": str(tmp_path)}, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
