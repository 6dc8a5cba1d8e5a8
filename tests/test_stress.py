"""Four or more processes on one account, with kills, CLI orders and a halt: every limit holds.

Once through the SQLite journal (one host), once through PostgreSQL with each
process playing a host of its own. See :mod:`tests.stress` for what is judged.
"""

from __future__ import annotations

import pytest

from . import stress
from .pg import schema_url

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_processes_on_one_account_never_beat_a_limit(tmp_path, backend):
    url = schema_url() if backend == "postgresql" else None
    report = stress.run(
        tmp_path, store_url=url, workers=4, seconds=20, seed=24, several_hosts=url is not None
    )
    assert stress.failures(report) == [], report
    assert report["killed"] >= 1
    assert report["cli_orders"] >= 1
    assert report["workers_started"] >= 4 + report["killed"]
    assert report["admitted"] >= 10  # the run did trade
    assert report["denied"].get("RATE_LIMIT_EXCEEDED", 0) >= 1  # and met its limits
    assert report["denied"].get("TRADING_HALTED", 0) >= 1
