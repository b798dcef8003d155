"""The `fedward` entry point. User errors print one or two lines and exit 2; bugs keep their traceback.
A command that needs a package of an extra that is not installed (`pip install 'fedward[server]'`...)
says which extra, and exits 2."""

from __future__ import annotations

import sys

import typer

from fedward.cli import demo, keys, ledger, pretrain, release, roster, rundir, services, simulate, synth
from fedward.cli import predict as predict_cli
from fedward.cli import provision as provision_cli
from fedward.core.allocator import tune_for_large_messages
from fedward.errors import UserError

__all__ = ["EXTRAS", "app", "main"]

# the optional packages (pyproject.toml's extras), by the name they are imported as
EXTRAS = {
    "fastapi": "server",
    "uvicorn": "server",
    "sqlalchemy": "server",
    "prometheus_client": "server",
    "psycopg": "postgres",
    "faker": "synth",
    "PIL": "documents",
}

app = typer.Typer(
    name="fedward",
    help="Cross-silo federated learning for healthcare: private, auditable, deployable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("demo")(demo.demo)
app.command("simulate")(simulate.simulate_command)
app.command("provision")(provision_cli.provision_command)
app.command("revoke")(provision_cli.revoke_command)
app.command("predict")(predict_cli.predict_command)
app.add_typer(synth.app, name="synth")
app.add_typer(pretrain.app, name="pretrain")
app.add_typer(keys.app, name="keys")
app.add_typer(roster.app, name="roster")
app.add_typer(ledger.app, name="ledger")
app.add_typer(release.app, name="release")
app.add_typer(rundir.app, name="run")
app.add_typer(services.coordinator_app, name="coordinator")
app.add_typer(services.site_app, name="site")


def main(argv: list[str] | None = None) -> None:
    tune_for_large_messages()
    try:
        app(args=argv, standalone_mode=True)
    except UserError as exc:
        sys.stderr.write(f"error: {exc.render()}\n")  # plain text: paths and [tables] must not be re-wrapped
        sys.exit(2)
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if package not in EXTRAS:
            raise
        extra = EXTRAS[package]
        sys.stderr.write(
            f"error: this command needs {package!r}, from fedward's optional '{extra}' packages\n"
            f"  hint: pip install 'fedward[{extra}]' (from a clone: pip install -e '.[{extra}]')\n"
        )
        sys.exit(2)
