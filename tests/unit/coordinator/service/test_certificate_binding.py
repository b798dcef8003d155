"""The TLS client certificate's site must be the request's signer (service/peer.py, service/gate.py), tested
over real mutual TLS with its attack: an admitted site A connects with its own certificate but signs with
site B's key (stolen, or B's machine's key on A's network), asking for B's tasks.

The coordinator's app is served by the deployed server (`BackgroundServer`: uvicorn, the federation's CA
and CRL). A's certificate with B's key is refused, 403 `certificate_mismatch`, logged and recorded, and B's
task is not handed out; A's certificate with A's key is served. Power check: with the binding check
switched off, the same request is served B's task.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from service_harness import FEDERATION, Service, make_service, put_task

from fedward.coordinator.service import gate
from fedward.coordinator.service.app import create_app
from fedward.coordinator.service.server import BackgroundServer, server_ssl_context
from fedward.deployment.pki import (
    certificate_pem,
    crl_pem,
    empty_crl,
    issue_client_certificate,
    issue_server_certificate,
    new_authority,
    private_key_pem,
    write_file,
)
from fedward.transport.signing import sign_request


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    now = datetime.now(UTC)
    folder = tmp_path_factory.mktemp("pki")
    ca = new_authority(FEDERATION, now, 2)
    server = issue_server_certificate(ca, FEDERATION, "127.0.0.1", now, 2)
    paths = {"ca.pem": folder / "ca.pem", "crl.pem": folder / "crl.pem"}
    write_file(paths["ca.pem"], certificate_pem(ca.certificate), private=False)
    write_file(paths["crl.pem"], crl_pem(empty_crl(ca, now, 2)), private=False)
    for name, issued in (("server", server), *((s, issue_client_certificate(ca, s, now, 2)) for s in "ab")):
        paths[f"{name}.pem"], paths[f"{name}.key"] = folder / f"{name}.pem", folder / f"{name}.key"
        write_file(paths[f"{name}.pem"], certificate_pem(issued.certificate), private=False)
        write_file(paths[f"{name}.key"], private_key_pem(issued.key), private=True)
    return paths


@pytest.fixture
def served(pki: dict[str, Path], tmp_path: Path) -> Iterator[tuple[Service, int]]:
    svc = make_service(tmp_path)
    svc.ctx.bind_certificates = True  # as the deployed coordinator has it

    def build() -> ssl.SSLContext:
        return server_ssl_context(pki["ca.pem"], pki["server.pem"], pki["server.key"], pki["crl.pem"])

    server = BackgroundServer(create_app(svc.ctx), "127.0.0.1", 0, build, pki["crl.pem"])
    server.start()
    try:
        yield svc, server.port
    finally:
        server.stop()


def _next_task(
    pki: dict[str, Path], port: int, svc: Service, certificate: str, signer: str
) -> httpx.Response:
    """GET /v1/tasks/next over mutual TLS with site `certificate`'s certificate, signed by `signer`'s key."""
    context = ssl.create_default_context(cafile=pki["ca.pem"])
    context.load_cert_chain(pki[f"{certificate}.pem"], pki[f"{certificate}.key"])
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=10) as client:
        request = client.build_request("GET", "/v1/tasks/next", params={"wait": 0})
        path = request.url.raw_path.decode("ascii")
        request.headers.update(
            sign_request(svc.keys[signer], signer, FEDERATION, "GET", path, b"", int(svc.clock[0]))
        )
        return client.send(request)


def test_a_sites_certificate_with_another_sites_key_is_refused(
    pki: dict[str, Path], served: tuple[Service, int], caplog: pytest.LogCaptureFixture
) -> None:
    svc, port = served
    task = put_task(svc, "b", parameters=b"b's model")
    with caplog.at_level(logging.WARNING, logger="fedward.test.service"):
        response = _next_task(pki, port, svc, certificate="a", signer="b")
    assert response.status_code == 403 and response.json()["reason"] == "certificate_mismatch"
    assert "'b'" in response.json()["detail"] and "'a'" in response.json()["detail"]
    assert svc.reasons() == ["certificate_mismatch"]
    logged = [r for r in caplog.records if getattr(r, "event", "") == "request_refused"]
    assert [(r.reason, r.site, r.status) for r in logged] == [("certificate_mismatch", "b", 403)]
    assert [t.task_id for t in svc.store.open_tasks("b")] == [task.task_id]  # nothing handed out
    # B itself, with its own certificate and key, still gets its task
    answer = _next_task(pki, port, svc, certificate="b", signer="b")
    assert answer.status_code == 200 and answer.json()["task"]["task_id"] == task.task_id


def test_a_sites_certificate_with_its_own_key_is_served(
    pki: dict[str, Path], served: tuple[Service, int]
) -> None:
    svc, port = served
    task = put_task(svc, "a", parameters=b"a's model")
    response = _next_task(pki, port, svc, certificate="a", signer="a")
    assert response.status_code == 200 and response.json()["task"]["task_id"] == task.task_id
    assert svc.reasons() == []


def test_power_check_without_the_binding_the_other_sites_task_is_served(
    pki: dict[str, Path], served: tuple[Service, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate, "_check_certificate", lambda scope, signer: None)
    svc, port = served
    task = put_task(svc, "b", parameters=b"b's model")
    response = _next_task(pki, port, svc, certificate="a", signer="b")
    assert response.status_code == 200 and response.json()["task"]["task_id"] == task.task_id


@pytest.mark.parametrize("bound", [True, False], ids=["defended", "power-check"])
def test_a_request_without_a_client_certificate_in_its_scope_is_refused(tmp_path: Path, bound: bool) -> None:
    """An app served without the server's TLS extension (no certificate to bind) fails closed."""
    svc = make_service(tmp_path)
    svc.ctx.bind_certificates = bound
    response = svc.call("a", "GET", "/v1/tasks/next")
    if bound:
        assert response.status_code == 403 and response.json()["reason"] == "certificate_missing"
    else:
        assert response.status_code == 200
