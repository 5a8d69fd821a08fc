"""Operations on dataset versions, one verb per module, wired together by :class:`Context`."""

from deltaset.engine.context import Context

__all__ = ["Context"]
