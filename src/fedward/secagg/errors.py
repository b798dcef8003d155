"""The errors of secure aggregation.

`ProtocolError` is about one message: the caller treats the site that sent it (or, at a site, the
coordinator) as misbehaving and the site as dropped. `AbortError` ends the whole session: too few sites
remain, or a secret cannot be reconstructed, so no sum is released (Bonawitz et al., CCS 2017,
section 4: "abort"). `SecAggConfigError` is a configuration a person must change; it is also a
`fedward.errors.ConfigError`, so the CLI prints it in one line and exits with code 2.
"""

from __future__ import annotations

from fedward.errors import ConfigError

__all__ = ["AbortError", "ProtocolError", "SecAggConfigError", "SecAggError"]


class SecAggError(Exception):
    """Base class of the errors raised by `fedward.secagg`."""


class ProtocolError(SecAggError):
    """A message is malformed, out of stage order, from an unknown or unexpected site, or unsafe to obey."""


class AbortError(SecAggError):
    """The session cannot finish safely: fewer than `threshold` sites remain or a secret is lost."""


class SecAggConfigError(SecAggError, ConfigError, ValueError):
    """The secure-aggregation settings are invalid (threshold, degree, ring capacity)."""
