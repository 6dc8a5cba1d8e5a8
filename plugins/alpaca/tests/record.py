"""Record the plugin's vcrpy cassettes.

    python -m tests.record            # against tests/fake_alpaca.py (documented bodies)
    python -m tests.record --paper    # against a paper account (ALPACA_PAPER_* set)

Credentials never reach a cassette: the key headers are filtered out, and the
cassette test fails if one ever appears.
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

import vcr

from tradingagents_brokers import BrokerSettings, OrderChanges, OrderRequest, TradingMode

CASSETTES = Path(__file__).parent / "cassettes"
FILTERED = ["APCA-API-KEY-ID", "APCA-API-SECRET-KEY", "Authorization"]


def recorder(mode: str = "none") -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=mode,
        match_on=["method", "path"],
        filter_headers=FILTERED,
        decode_compressed_response=True,
    )


def scenarios(broker, symbol: str = "AAPL") -> dict[str, object]:
    """What each cassette holds. Replaying runs the same calls and checks the results."""
    tag = uuid.uuid4().hex[:12]

    def order_lifecycle():
        request = OrderRequest(
            symbol=symbol,
            side="buy",
            qty=1,
            order_type="limit",
            limit_price="1",
            time_in_force="gtc",
            client_order_id=f"rec-{tag}",
        )
        placed = broker.place_order(request)
        by_id = broker.get_order(placed.order_id)
        by_client = broker.get_order_by_client_id(placed.client_order_id)
        new = broker.replace_order(placed.order_id, OrderChanges(limit_price="1.01"))
        broker.cancel_order(new.order_id)
        return placed, by_id, by_client, new

    def duplicate_and_not_found():
        request = OrderRequest(
            symbol=symbol,
            side="buy",
            qty=1,
            order_type="limit",
            limit_price="1",
            client_order_id=f"dup-{tag}",
        )
        first = broker.place_order(request)
        errors = []
        for call in (
            lambda: broker.place_order(request),
            lambda: broker.get_order_by_client_id(f"never-{tag}"),
        ):
            try:
                call()
            except Exception as exc:
                errors.append(exc)
        broker.cancel_order(first.order_id)
        return first, errors

    return {
        "order_lifecycle": order_lifecycle,
        "duplicate_and_not_found": duplicate_and_not_found,
        "orders_list": lambda: broker.get_orders("all", limit=50),
        "account_and_market": lambda: (
            broker.get_account(),
            broker.get_portfolio_history(period="1M", timeframe="1D"),
            broker.get_clock(),
            broker.get_asset(symbol),
            broker.get_quote(symbol),
        ),
        "positions": lambda: broker.get_positions(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paper", action="store_true", help="record against a paper account")
    args = parser.parse_args()
    from tradingagents_brokers_alpaca.broker import build_alpaca

    if args.paper:
        if not (
            os.environ.get("ALPACA_PAPER_API_KEY") and os.environ.get("ALPACA_PAPER_SECRET_KEY")
        ):
            raise SystemExit("set ALPACA_PAPER_API_KEY and ALPACA_PAPER_SECRET_KEY to record")
        broker = build_alpaca(BrokerSettings(name="alpaca", mode=TradingMode.PAPER))
        record(broker)
        return
    from .fake_alpaca import FakeAlpaca

    os.environ.setdefault("ALPACA_PAPER_API_KEY", "PKRECORDING0000")
    os.environ.setdefault("ALPACA_PAPER_SECRET_KEY", "RECORDING-SECRET-NOT-A-KEY")
    with FakeAlpaca() as fake:
        fake.new_order(
            {
                "symbol": "AAPL",
                "side": "sell",
                "type": "market",
                "time_in_force": "day",
                "qty": "3",
                "client_order_id": "seed-1",
            },
            status="filled",
        )
        options = {"base_url": fake.url, "data_url": fake.url}
        broker = build_alpaca(
            BrokerSettings(name="alpaca", mode=TradingMode.PAPER, options=options)
        )
        record(broker)


def record(broker) -> None:
    CASSETTES.mkdir(exist_ok=True)
    for name, scenario in scenarios(broker).items():
        (CASSETTES / f"{name}.yaml").unlink(missing_ok=True)
        broker._assets.clear()  # each scenario starts cold, as each replaying test does
        with recorder("all").use_cassette(f"{name}.yaml"):
            scenario()
        print(f"recorded {name}.yaml")


if __name__ == "__main__":
    main()
