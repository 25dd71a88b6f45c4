"""The helper module of Attune's Python actions.

``attune.execution_id``: the execution's id. ``attune.get_secret(name)``: the value of the
action's secret parameter ``name`` (``None`` when it has none of that name). ``attune.logger``:
a ``logging.Logger`` whose lines go to the execution's log stream (stderr).

Kept light: ``logging`` is imported the first time ``attune.logger`` is used, so that an
action that does not log does not pay for it at every start.
"""

import sys

execution_id = None
action = None
pack = None
_secrets = {}
_logger = None


def _make_logger():
    import logging

    log = logging.getLogger("attune.action")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        log.propagate = False
    return log


def __getattr__(name):
    global _logger
    if name == "logger":
        if _logger is None:
            _logger = _make_logger()
        return _logger
    raise AttributeError("module 'attune' has no attribute %r" % name)


def get_secret(name):
    """The value of the secret parameter ``name`` of this execution, or None."""
    return _secrets.get(name)


def _begin(request):
    """Set by the runner before the action runs (one execution at a time)."""
    global execution_id, action, pack, _secrets
    execution_id = request.get("execution_id")
    action = request.get("action")
    pack = request.get("pack")
    _secrets = dict(request.get("secrets") or {})


class Action(object):
    """An optional base class for class-style actions (``run(self, **params)``)."""

    def __init__(self, config=None):
        self.config = config or {}

    @property
    def logger(self):
        return __getattr__("logger")

    def run(self, **params):
        raise NotImplementedError("the action's class must define run(self, **params)")
