"""`fedward coordinator serve|status KIT` and `fedward site run KIT`: the deployed services.

Both log JSON lines to standard error (`fedward.deployment.logs`). A bad kit or federation file exits 2
with one line naming the file; `serve` and `run` exit 0 when the run is finished.

`site run` is also the only reader of the test-only switch `FEDWARD_TEST_FAULTS=1`, which lets a deployed
site run the federation file's `[[faults]]` (the end-to-end tests use it; production never sets it, and
the site logs a warning when it is on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from fedward.cli.progress import console
from fedward.core.allocator import tune_for_bounded_memory
from fedward.errors import UserError

__all__ = ["coordinator_app", "site_app"]

coordinator_app = typer.Typer(help="Run or inspect the coordinator service.", no_args_is_help=True)
site_app = typer.Typer(help="Run a site node.", no_args_is_help=True)

_KIT = typer.Argument(..., help="the participant's startup kit, written by `fedward provision`")
_LOG_FORMAT = typer.Option("json", "--log-format", help="json (one object per line) | text")
_LOG_LEVEL = typer.Option("info", "--log-level", help="debug | info | warning | error")


def _logging(log_format: str, log_level: str) -> None:
    from fedward.deployment.logs import configure_logging

    try:
        configure_logging(log_format, log_level.lower())
    except ValueError as exc:
        raise UserError(str(exc), where="--log-format/--log-level") from None


@coordinator_app.command("serve")
def serve_command(kit: Path = _KIT, log_format: str = _LOG_FORMAT, log_level: str = _LOG_LEVEL) -> None:
    """Serve the federation over mutual TLS and run it to the end; resumes a run after a crash."""
    _logging(log_format, log_level)
    from fedward.deployment.coordinator import serve  # the service's modules load only here

    tune_for_bounded_memory()  # many request threads and model-sized buffers: keep the peak bounded
    result = serve(kit)
    console.print(
        f"run finished: {result.rounds_completed} rounds{' (resumed)' if result.resumed else ''}; "
        f"results in {result.run_dir}"
    )


@coordinator_app.command("status")
def status_command(
    kit: Path = _KIT, as_json: bool = typer.Option(False, "--json", help="print JSON instead of text")
) -> None:
    """Where the run stands: round, state, and each site's last contact (works while the service is down)."""
    from fedward.deployment.status import coordinator_status

    status = coordinator_status(kit)
    if as_json:
        typer.echo(json.dumps(status, indent=2, sort_keys=True))
        return
    console.print(f"state {status['state']}, round {status['round']}, run {status['run_id'] or '-'}")
    for site, info in status["sites"].items():
        console.print(f"  {site}: last seen {info['last_seen'] or 'never'}, open tasks {info['open_tasks']}")
    if status["rejections"]:
        console.print(f"  refused requests: {status['rejections']}")


@site_app.command("run")
def run_command(
    kit: Path = _KIT,
    accept_any_task: bool = typer.Option(
        False,
        "--accept-any-task",
        help="run without a policy file, accepting any task the federation sends (deny by default "
        "otherwise); recorded in every manifest the site signs",
    ),
    log_format: str = _LOG_FORMAT,
    log_level: str = _LOG_LEVEL,
) -> None:
    """Connect out to the coordinator and answer its tasks until the run is finished."""
    _logging(log_format, log_level)
    from fedward.deployment.site import TEST_FAULTS_ENV, run_site_kit

    test_faults = os.environ.get(TEST_FAULTS_ENV) == "1"  # test-only; see the module docstring
    result = run_site_kit(kit, accept_any_task=accept_any_task, test_faults=test_faults)
    console.print(f"run finished: {result.tasks_handled} tasks answered")
