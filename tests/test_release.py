"""Release-ready: one version source per distribution, a LICENSE each, a changelog, the pages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import tradingagents_brokers

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = [ROOT, ROOT / "plugins" / "alpaca", ROOT / "plugins" / "ibkr"]
VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)


def _project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())


def _version(folder: Path) -> str:
    """The version hatch builds: read from the one file the pyproject names."""
    data = _project(folder)
    assert "version" not in data["project"], f"{folder}: a second version in pyproject.toml"
    assert data["project"]["dynamic"] == ["version"]
    source = folder / data["tool"]["hatch"]["version"]["path"]
    found = VERSION.findall(source.read_text())
    assert len(found) == 1, source
    return found[0]


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda f: f.name)
def test_each_distribution_has_one_version_source_and_its_license(folder):
    assert re.fullmatch(r"\d+\.\d+\.\d+", _version(folder))
    project = _project(folder)["project"]
    assert project["license"] == "Apache-2.0"
    text = (folder / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_core_reports_the_version_it_is_built_with():
    assert tradingagents_brokers.__version__ == _version(ROOT)


@pytest.mark.parametrize("folder", DISTRIBUTIONS[1:], ids=lambda f: f.name)
def test_each_plugin_accepts_the_core_it_ships_with(folder):
    major, minor, _ = (int(part) for part in _version(ROOT).split("."))
    needs = next(d for d in _project(folder)["project"]["dependencies"] if "brokers>" in d)
    low, high = re.fullmatch(r"tradingagents-brokers>=([\d.]+),<([\d.]+)", needs).groups()
    assert tuple(int(p) for p in low.split(".")) <= (major, minor)
    assert (major, minor) < tuple(int(p) for p in high.split("."))


def test_the_changelog_has_a_section_for_every_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {_version(ROOT)} " in changelog
    for folder in DISTRIBUTIONS[1:]:
        name = _project(folder)["project"]["name"]
        assert f"`{name}` {_version(folder)}" in changelog


def test_the_readme_names_the_supported_python_versions():
    readme = (ROOT / "README.md").read_text()
    requires = _project(ROOT)["project"]["requires-python"]
    assert requires == ">=3.11"
    assert "Python 3.11 or newer" in readme


def test_the_langchain_extra_installs_what_the_agents_page_imports():
    extra = _project(ROOT)["project"]["optional-dependencies"]["langchain"]
    page = (ROOT / "docs" / "agents.md").read_text()
    assert "from langchain.agents import create_agent" in page
    assert any(re.match(r"langchain[<>=]", requirement) for requirement in extra)


def test_every_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")]
    assert "troubleshooting.md" in pages
    assert "going-live.md" in pages
    assert [page for page in pages if f": {page}" not in nav] == []
