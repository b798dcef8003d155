"""What the coordinator's HTTP API works with (`ServiceContext`), and how it refuses a request.

A `Refusal` is raised wherever a request is turned down (bad signature, oversize body, another site's
task, a replayed reply); `ServiceContext.refuse` counts it in the metrics, records it in the state store
and logs one structured line, so an operator sees every hostile or broken request in one place whatever
the route. The answer a site gets is a `Problem`: a JSON object whose `detail` says what was wrong.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from fedward.coordinator.service.board import Board
from fedward.coordinator.service.metrics import ServiceMetrics
from fedward.coordinator.state.base import StateStore
from fedward.coordinator.state.blobs import BlobStore
from fedward.transport.signing import SIGNATURE_WINDOW_S

__all__ = [
    "DEFAULT_MAX_CHUNK_BYTES",
    "DEFAULT_MAX_PARTIAL_UPLOADS",
    "DEFAULT_UPLOAD_EXPIRY_S",
    "Problem",
    "Refusal",
    "ServiceContext",
    "utc_now",
]

DEFAULT_MAX_CHUNK_BYTES = 16 << 20
DEFAULT_UPLOAD_EXPIRY_S = 600.0  # a partial upload idle this long is removed
DEFAULT_MAX_PARTIAL_UPLOADS = 4  # partial uploads one site may hold at once
_DETAIL_CHARS = 500  # what a refusal record and log line keep of a detail


def utc_now() -> str:
    """The current time as ISO 8601 UTC, for records."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Problem(BaseModel):
    """The JSON body of every refusal: what was wrong (`detail`), a short `reason` code, and for a
    wrong upload offset the `offset` the coordinator holds."""

    detail: str
    reason: str
    offset: int | None = None


class Refusal(Exception):
    """A request turned down with HTTP `status`; `reason` is the short code metrics and records use.

    `site` is the verified signer, or the claimed one (unverified) before the signature is checked;
    `record=False` is for answers that refuse nothing, such as asking about an upload that never began.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        site: str | None,
        offset: int | None = None,
        record: bool = True,
    ) -> None:
        detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogates
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.site, self.offset, self.record = site, offset, record

    def problem(self) -> Problem:
        return Problem(detail=self.detail, reason=self.reason, offset=self.offset)


@dataclass
class ServiceContext:
    """The coordinator service's dependencies. `site_key` gives a site's Ed25519 public key if the current
    roster admits the site and its key is not revoked, else None; the caller builds it from the roster.
    The `upload_*` and `max_partial_uploads` fields bound what a site may upload (service/uploads.py).
    `bind_certificates`: a signed request is served only if its signer is the site its connection's TLS
    client certificate names (gate.py); off only for an app served without TLS (in-process tests)."""

    store: StateStore
    blobs: BlobStore
    board: Board
    metrics: ServiceMetrics
    federation: str
    site_key: Callable[[str], bytes | None]
    now: Callable[[], float] = time.time
    utc: Callable[[], str] = utc_now
    poll_seconds: float = 30.0
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
    max_update_bytes: int = 1 << 30
    upload_expiry_s: float = DEFAULT_UPLOAD_EXPIRY_S
    max_partial_uploads: int = DEFAULT_MAX_PARTIAL_UPLOADS
    upload_factor: float = 4.0  # an upload may be this many times the round's model, plus the overhead
    upload_overhead_bytes: int = 8 << 20
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fedward.coordinator.service"))
    signature_window_s: float = SIGNATURE_WINDOW_S
    bind_certificates: bool = True
    upload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def refuse(self, refusal: Refusal, path: str) -> None:
        """Count, record and log a refusal (blocking: the store may be a database)."""
        if not refusal.record:
            return
        site = refusal.site or "?"
        detail = refusal.detail[:_DETAIL_CHARS]
        self.metrics.requests_rejected.labels(refusal.reason).inc()
        self.store.record_rejection(site, refusal.reason, detail, self.utc())
        self.logger.warning(
            "request refused: %s %s",
            refusal.status,
            refusal.reason,
            extra={
                "event": "request_refused",
                "site": site,
                "reason": refusal.reason,
                "status": refusal.status,
                "path": path[:200],
                "detail": detail,
            },
        )

    def current_round(self) -> int:
        """The round the state store says the run is in (0 before the first)."""
        try:
            return int(self.store.meta("round") or 0)
        except ValueError:
            return 0
