"""The Python API, with ClearML Data's names and defaults."""
