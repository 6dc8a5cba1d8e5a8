"""A fake TWS that speaks IB's socket API on loopback, enough for ib_async to connect and trade."""

from .book import Book, FakeOrder, Stock
from .server import FakeTWS

__all__ = ["Book", "FakeOrder", "FakeTWS", "Stock"]
