"""`fedward` for the deployed sites of the end-to-end tests, with the transport client's retry waits
capped at 1 s instead of 30 s (`Backoff.max_s`).

A site that finds its coordinator gone (the SIGKILL tests kill it several times a run) retries with
exponential backoff; with the production cap a restart on a loaded machine cost the test up to 30 s of a
site's waiting after the coordinator was back. The cap changes when a site asks again, not what it asks
or what either side checks; the backoff itself is tested in tests/unit/transport/test_client.py.
"""

from dataclasses import dataclass

from fedward.transport import client


@dataclass
class _QuickBackoff(client.Backoff):
    max_s: float = 1.0


client.Backoff = _QuickBackoff  # type: ignore[misc]  # CoordinatorClient calls Backoff() from this module

if __name__ == "__main__":
    from fedward.cli.app import main

    main()
