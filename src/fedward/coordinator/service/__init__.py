"""The deployed coordinator: its HTTP API, the state it journals, and the server that runs it."""
