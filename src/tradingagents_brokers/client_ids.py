"""Client order ids: the rule the core applies, and a reversible encoding for narrow brokers.

The core sends every order with a ``client_order_id`` of 1 to 128 printable ASCII
characters without spaces (``!`` to ``~``). Ids the core makes itself look like
``tab-1a2b3c4d-17``. A caller may give its own, so a plugin whose broker takes a
narrower set of characters (only letters, digits and ``-``, say) or shorter ids
maps them with a :class:`ClientIdCodec`: an id that already fits is sent as it
is, any other is sent as the codec's prefix and a base-32 spelling of its bytes,
and :meth:`ClientIdCodec.decode` gives the original back from what the broker
reports.

>>> codec = ClientIdCodec()
>>> codec.encode("tab-1a2b3c4d-17")
'tab-1a2b3c4d-17'
>>> codec.encode("my_order#1")
'x-nv4v633smrsxeizr'
>>> codec.decode("x-nv4v633smrsxeizr")
'my_order#1'
"""

from __future__ import annotations

import base64
import binascii
import re
import string

import attrs

from .errors import InvalidOrderError

__all__ = ["CLIENT_ORDER_ID_RULE", "ClientIdCodec", "is_valid_client_order_id"]

#: The rule, in words, as the core's errors state it.
CLIENT_ORDER_ID_RULE = "1 to 128 printable ASCII characters without spaces"
_VALID = re.compile(r"^[\x21-\x7e]{1,128}$")

_LOWER32 = frozenset(string.ascii_lowercase + "234567")
_UPPER32 = frozenset(string.ascii_uppercase + "234567")


def is_valid_client_order_id(value: object) -> bool:
    """Whether the core accepts ``value`` as a client order id."""
    return isinstance(value, str) and _VALID.match(value) is not None


@attrs.frozen
class ClientIdCodec:
    """Maps the core's client order ids to what a broker accepts, and back.

    ``allowed`` is every character the broker takes; it must hold the prefix and
    the base-32 letters (``a``-``z`` and ``2``-``7``, or their capitals).
    ``max_length`` is the broker's longest id, if it has one: an id that would
    encode longer is refused with :class:`InvalidOrderError` before anything is
    sent. Encoding is one-to-one: two different ids never give the same text.
    """

    allowed: str = string.ascii_letters + string.digits + "-"
    max_length: int | None = None
    prefix: str = "x-"

    def __attrs_post_init__(self) -> None:
        chars = set(self.allowed)
        if not self.prefix or not set(self.prefix) <= chars:
            raise ValueError(f"the prefix {self.prefix!r} must be made of allowed characters")
        if not (chars >= _LOWER32 or chars >= _UPPER32):
            raise ValueError("allowed must hold a-z and 2-7 (or A-Z and 2-7) for base 32")
        if self.max_length is not None and self.max_length <= len(self.prefix):
            raise ValueError(f"max_length {self.max_length} leaves no room after the prefix")

    @property
    def _lower(self) -> bool:
        return set(self.allowed) >= _LOWER32

    def fits(self, client_order_id: str) -> bool:
        """Whether the broker takes ``client_order_id`` as it is (so it is sent unchanged)."""
        return (
            bool(client_order_id)
            and set(client_order_id) <= set(self.allowed)
            and not client_order_id.startswith(self.prefix)
            and (self.max_length is None or len(client_order_id) <= self.max_length)
        )

    def encode(self, client_order_id: str) -> str:
        """The text to send the broker for ``client_order_id``."""
        if not is_valid_client_order_id(client_order_id):
            raise InvalidOrderError(f"client_order_id must be {CLIENT_ORDER_ID_RULE}")
        if self.fits(client_order_id):
            return client_order_id
        spelled = base64.b32encode(client_order_id.encode("ascii")).decode("ascii").rstrip("=")
        encoded = self.prefix + (spelled.lower() if self._lower else spelled)
        if self.max_length is not None and len(encoded) > self.max_length:
            raise InvalidOrderError(
                f"client_order_id {client_order_id!r} needs {len(encoded)} characters at this "
                f"broker, which takes at most {self.max_length}; use a shorter id made of "
                "letters, digits and '-', or let the core choose one",
                details={"client_order_id": client_order_id},
            )
        return encoded

    def decode(self, sent: str) -> str:
        """The core's client order id for ``sent``, text that :meth:`encode` gave.

        Raises ``ValueError`` for text no encoding gives (an order placed by hand at
        the broker with the prefix); a plugin then reports the text as it is.
        """
        if not sent.startswith(self.prefix):
            return sent
        body = sent[len(self.prefix) :].upper()
        try:
            decoded = base64.b32decode(body + "=" * (-len(body) % 8)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError(f"{sent!r} is not an encoded client order id") from None
        if not is_valid_client_order_id(decoded) or self.encode(decoded) != sent:
            raise ValueError(f"{sent!r} is not an encoded client order id")
        return decoded
