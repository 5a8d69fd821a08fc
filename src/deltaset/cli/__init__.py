"""The ``deltaset`` command: argument parsing and presentation only, one module per command."""
