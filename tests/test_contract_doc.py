"""docs/contract.md stays true: every method and field is there; the error table is the code."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import tradingagents_brokers
from tradingagents_brokers import errors
from tradingagents_brokers.broker import Broker
from tradingagents_brokers.models import Account, BrokerCapabilities, Position
from tradingagents_brokers.orders import Order
from tradingagents_brokers.safety.submission import is_ambiguous

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text()


def _section(title):
    start = PAGE.index(f"\n{title}\n")
    end = PAGE.find("\n#", start + len(title) + 2)
    return PAGE[start : end if end != -1 else None]


def _rows(text):
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[1:]]


def test_every_broker_method_is_in_the_methods_table():
    members = {m for m in dir(Broker) if not m.startswith("_")}
    listed = {re.match(r"`(\w+)", row[0]).group(1) for row in _rows(_section("## The methods"))}
    assert members <= listed, f"not on the page: {sorted(members - listed)}"


@pytest.mark.parametrize(
    ("model", "title"),
    [
        (Order, "### Order"),
        (Position, "### Position"),
        (Account, "### Account"),
        (BrokerCapabilities, "### The capabilities"),
    ],
)
def test_every_model_field_is_in_its_table(model, title):
    cells = " ".join(row[0] for row in _rows(_section(title)))
    missing = [f.name for f in attrs.fields(model) if f"`{f.name}`" not in cells]
    assert missing == [], f"{model.__name__} fields not on the page: {missing}"


def test_the_type_names_the_page_uses_import_from_the_package():
    for name in ("OrderQuery", "OrderRequest", "OrderChanges", "BrokerCapabilities", "Order"):
        assert name in tradingagents_brokers.__all__


def _error(cell):
    name = re.match(r"`(\w+)", cell).group(1)
    cls = getattr(errors, name)
    status = re.search(r"status_code=(\d)(\d\d|xx)", cell)
    if issubclass(cls, errors.BrokerAPIError) and status:
        return cls("m", status_code=int(status.group(1) + status.group(2).replace("xx", "00")))
    return cls("m")


ERROR_ROWS = _rows(_section("## Errors").split("| situation")[1].split("\n\n")[0])


def test_the_error_table_has_every_case_the_brief_names():
    situations = " ".join(row[0] for row in ERROR_ROWS)
    for words in ("filled", "does not offer", "rejects the order", "429", "5xx"):
        assert words in situations
    assert len(ERROR_ROWS) >= 12


@pytest.mark.parametrize("row", ERROR_ROWS, ids=lambda row: row[0][:40])
def test_each_error_row_is_what_the_code_does(row):
    _, raised, code, retryable, known, reading = row
    error = _error(raised)
    assert f"`{error.code}`" == code
    assert error.retryable is (retryable == "yes")
    assert error.outcome_known is (known == "yes")
    if isinstance(error, errors.DuplicateClientOrderIdError):
        assert reading.startswith("resolved")
    else:
        assert reading == ("maybe sent" if is_ambiguous(error) else "refused")
