"""StackStorm's base class of Python actions, for Attune: ``Action(config)`` with
``self.config`` (the pack's config), ``self.logger`` (``actions.python.<ClassName>``, its
lines on the execution's stderr) and ``self.action_service`` (the key-value store, see
``st2common.services.datastore``); the subclass defines ``run(self, **params)``, whose
return value is the result and ``(False, value)`` a failure with ``value``."""

import attune as _attune
from st2common.services.datastore import ActionService

__all__ = ["Action"]


class Action(object):
    """The base class of a StackStorm Python action."""

    description = None

    def __init__(self, config=None, action_service=None):
        self.config = config if config is not None else {}
        if action_service is not None:
            self._action_service = action_service

    @property
    def action_service(self):
        """The key-value store of this action (made when first used, so that a subclass
        that does not call ``Action.__init__`` has it too)."""
        service = getattr(self, "_action_service", None)
        if service is None:
            service = ActionService(_attune.pack, type(self).__name__)
            self._action_service = service
        return service

    @action_service.setter
    def action_service(self, value):
        self._action_service = value

    @property
    def logger(self):
        """``actions.python.<ClassName>``: a logger whose lines go to the execution's
        stderr (made when first used: an action that does not log does not import
        ``logging``)."""
        log = getattr(self, "_logger", None)
        if log is None:
            log = _attune._stderr_logger("actions.python.%s" % type(self).__name__)
            self._logger = log
        return log

    @logger.setter
    def logger(self, value):
        self._logger = value

    def run(self, **kwargs):
        raise NotImplementedError("the action's class must define run(self, **params)")


__getattr__ = _attune._missing_name(__name__, ["Action"])
