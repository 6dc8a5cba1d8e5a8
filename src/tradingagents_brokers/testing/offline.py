"""The offline level of the conformance kit: discovery, description, protocol, options.

Nothing here sends a request to a broker, so it runs without a server or an account.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import Broker, BrokerConfigurationError, BrokerType, PluginHost, get_broker
from ._base import KitBase

__all__ = ["BrokerConformanceTests"]


class BrokerConformanceTests(KitBase):
    """Offline level. Set ``broker_name``; override ``broker_options`` if the broker needs any."""

    def test_the_plugin_is_discovered(self, host: PluginHost) -> None:
        """The broker type is found through the package's entry point, from its distribution.

        The plugin proves on its own: nothing; an installed package is all it takes.
        """
        assert self.broker_name in host.broker_types, (
            f"no broker type {self.broker_name!r}: declare an entry point in the "
            "'tradingagents_brokers' group whose module implements register_brokers"
        )
        owner = host.plugins[host.broker_owner(self.broker_name)]
        if self.distribution is not None:
            assert owner.distribution == self.distribution, (
                f"{self.broker_name!r} comes from {owner.distribution}, not {self.distribution}"
            )

    def test_the_broker_type_describes_itself(self, broker_type: BrokerType) -> None:
        """The broker type has a description and declares order types and time-in-force values.

        The plugin proves on its own: that the declared capabilities are what the broker
        really takes (the trading level tries only some of them).
        """
        assert broker_type.description.strip(), "give the BrokerType a description for people"
        assert broker_type.capabilities.order_types, "declare the order types the broker takes"
        assert broker_type.capabilities.time_in_force, "declare the time-in-force values it takes"

    def test_the_broker_satisfies_the_protocol(self, host: PluginHost, tmp_path: Any) -> None:
        """The factory builds an object with every member of the Broker protocol.

        The plugin proves on its own: that each method does what docs/contract.md says;
        this test checks names, not behaviour.
        """
        from ..config import effective_config

        broker = host.build_broker(self.broker_name, effective_config(self.config(tmp_path)))
        try:
            assert isinstance(broker, Broker)
            assert broker.capabilities is not None
        finally:
            broker.close()

    def test_unknown_options_are_a_clear_configuration_error(self, tmp_path: Any) -> None:
        """An unknown key in broker_options is refused with an error that names it.

        The plugin proves on its own: that each known option is checked (type, range).
        """
        config = self.config(tmp_path)
        config["broker_options"][self.broker_name]["no_such_option_kit"] = 1
        with pytest.raises(BrokerConfigurationError) as raised:
            get_broker(self.broker_name, config=config).close()
        assert "no_such_option_kit" in raised.value.message, (
            "name the unknown option in the error so the user can fix it"
        )

    def test_the_factory_builds_a_live_broker_without_its_credentials(
        self, host: PluginHost, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The factory builds a live broker while the live credential variables are unset.

        The core builds the broker before its mode gate answers, so a factory that
        reads credentials and raises turns the documented ``{"status": "blocked"}``
        answer into a configuration error. Read credentials when the first request
        needs them (see "Credentials" in docs/writing-plugins.md). The plugin proves on
        its own: that a request without credentials raises BrokerConfigurationError
        naming the variables.
        """
        from ..config import effective_config

        broker_type = host.broker_types[self.broker_name]
        for variable in broker_type.credential_env.get("live", ()):
            monkeypatch.delenv(variable, raising=False)
        config = effective_config({**self.config(tmp_path), "broker_mode": "live"})
        try:
            broker = host.build_broker(self.broker_name, config)
        except BrokerConfigurationError as exc:
            pytest.fail(
                f"the factory raised in live mode without credentials ({exc.message}); read "
                "them on the first request instead, so live mode without "
                "auto_execute_trades answers 'blocked'",
                pytrace=False,
            )
        broker.close()
