"""``st2common.log``: ``getLogger(name)`` gives a ``logging.Logger`` whose lines go to the
execution's stderr, like the logger of an action."""

import attune as _attune


def getLogger(name):  # noqa: N802 - StackStorm's name
    """A logger whose lines go to the execution's stderr (its log)."""
    return _attune._stderr_logger(name)


__getattr__ = _attune._missing_name(__name__, ["getLogger"])
