"""How tasks reach sites and replies come back. The round logic sees only the `Transport` protocol."""

from fedward.transport.base import SiteHandler, SiteSilent, Transport
from fedward.transport.memory import InMemoryTransport

__all__ = ["InMemoryTransport", "SiteHandler", "SiteSilent", "Transport"]
