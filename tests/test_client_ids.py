"""Client order ids: the published rule is the one orders apply; the codec round-trips."""

from __future__ import annotations

import doctest
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradingagents_brokers import InvalidOrderError, OrderRequest, client_ids
from tradingagents_brokers.client_ids import (
    CLIENT_ORDER_ID_RULE,
    ClientIdCodec,
    is_valid_client_order_id,
)

PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
IDS = st.text(PRINTABLE, min_size=1, max_size=128)
NARROW = set(string.ascii_letters + string.digits + "-")


def _accepted_by_orders(value):
    try:
        OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=value)
    except InvalidOrderError as exc:
        return CLIENT_ORDER_ID_RULE not in exc.message  # another reason would be a surprise
    return True


@given(st.text(max_size=140))
def test_the_published_rule_is_the_one_orders_apply(value):
    assert is_valid_client_order_id(value) == _accepted_by_orders(value)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("a", True), ("x" * 128, True), ("x" * 129, False), ("", False), ("a b", False)],
)
def test_the_rule_at_its_edges(value, valid):
    assert is_valid_client_order_id(value) is valid
    assert _accepted_by_orders(value) is valid


@given(IDS)
def test_every_valid_id_round_trips_through_letters_digits_and_dash(value):
    codec = ClientIdCodec()
    sent = codec.encode(value)
    assert set(sent) <= NARROW
    assert codec.decode(sent) == value


@given(IDS, IDS)
def test_two_ids_never_encode_alike(first, second):
    codec = ClientIdCodec()
    assert (codec.encode(first) == codec.encode(second)) == (first == second)


@given(st.text(st.sampled_from(sorted(NARROW)), min_size=1, max_size=60))
def test_an_id_that_fits_is_sent_unchanged_unless_it_looks_encoded(value):
    sent = ClientIdCodec().encode(value)
    assert (sent == value) == (not value.startswith("x-"))


def test_an_id_that_looks_encoded_is_encoded_again():
    codec = ClientIdCodec()
    sent = codec.encode("x-abc")
    assert sent != "x-abc"
    assert codec.decode(sent) == "x-abc"


def test_the_core_s_own_ids_pass_unchanged():
    assert ClientIdCodec(max_length=32).encode("tab-1a2b3c4d-17") == "tab-1a2b3c4d-17"


def test_upper_case_only_brokers_get_upper_case_base32():
    codec = ClientIdCodec(allowed=string.ascii_uppercase + string.digits + "_", prefix="X_")
    sent = codec.encode("my-order.1")
    assert set(sent) <= set(string.ascii_uppercase + string.digits + "_")
    assert codec.decode(sent) == "my-order.1"


def test_an_id_too_long_for_the_broker_is_refused_before_sending():
    codec = ClientIdCodec(max_length=20)
    with pytest.raises(InvalidOrderError, match="at most 20") as raised:
        codec.encode("order#" + "9" * 14)
    assert raised.value.details["client_order_id"] == "order#" + "9" * 14
    assert codec.encode("order-" + "9" * 14) == "order-" + "9" * 14


@pytest.mark.parametrize("value", ["", "a b", "é", "x" * 129])
def test_an_invalid_id_is_refused(value):
    with pytest.raises(InvalidOrderError, match="printable ASCII"):
        ClientIdCodec().encode(value)


@pytest.mark.parametrize("text", ["x-!!", "x-a", "x-mfrgg", "x-" + "m" * 9])
def test_text_no_encoding_gives_is_refused_by_decode(text):
    with pytest.raises(ValueError, match="not an encoded client order id"):
        ClientIdCodec().decode(text)


def test_text_without_the_prefix_decodes_to_itself():
    assert ClientIdCodec().decode("placed-by-hand") == "placed-by-hand"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prefix": "x_"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"allowed": string.digits + "x-"}, "base 32"),
        ({"max_length": 2}, "no room"),
    ],
)
def test_a_codec_that_cannot_work_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClientIdCodec(**kwargs)


def test_the_module_examples_run():
    result = doctest.testmod(client_ids)
    assert result.attempted > 0
    assert result.failed == 0
