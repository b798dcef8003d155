"""The run itself, shared by both ways to run (`simulation` in one process, `deployment` across
machines), so that they differ only in the transport:

- `plan`: the federation file -> the round loop's `FederationPlan` and `Strategy`;
- `privacy_checks`: settings judged against the whole federation before anything runs;
- `data`: loading and checking site data (all sites, or one site's own);
- `site_trust`: a site's keys, policy and evidence state;
- `audit`: the audit trail (keys, ledger, package verifier, releases), assembled once;
- `summary`: summary.json; `outputs`: the run directory;
- `faults`: injected dropouts (`[[faults]]`), for simulations and, behind a test-only switch, tests.

It sits below `simulation` and `deployment` and above `report`, `coordinator` and `site`.
"""
