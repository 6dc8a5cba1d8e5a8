"""A third-party plugin in a few lines: broker type ``tiny``, a sim account of its own."""

from tradingagents_brokers import BrokerType, hookimpl


def build(settings):
    # Imported here, not at the top: discovery must stay cheap.
    from tradingagents_brokers.sim.broker import SimBroker
    from tradingagents_brokers.sim.prices import StaticPrices
    from tradingagents_brokers.sim.store import SimStore

    return SimBroker(SimStore(settings.state_dir / "tiny.db"), StaticPrices({"AAPL": 50}))


@hookimpl
def register_brokers():
    return [BrokerType(name="tiny", factory=build, description="tiny test broker")]
