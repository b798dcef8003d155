"""fedward: cross-silo federated learning for healthcare.

Hospitals ("sites") keep their data; a coordinator combines their model updates. The public API is the
command line (`fedward --help`) and the modules named in `docs/architecture.md`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
