"""The `fedward` command line: one module per command group."""
