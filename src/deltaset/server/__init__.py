"""The deltaset server: the shared catalog and storage of a team, over HTTP."""
