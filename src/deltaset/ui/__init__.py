"""The web catalog: server-rendered pages over the engine, served by ``deltaset ui`` (this
machine's catalog) and by ``deltaset server`` (a team's), with every asset in the package."""
