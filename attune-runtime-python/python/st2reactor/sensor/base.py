"""StackStorm's sensor base classes, for Attune: ``Sensor`` (``run`` does the work until
``cleanup``) and ``PollingSensor`` (``poll`` is called every ``poll_interval`` seconds).
A sensor gets ``sensor_service`` (``dispatch``, ``get_logger``, the key-value store) and
``config`` (its pack's config); the engine calls ``setup``, ``add_trigger`` for each
trigger its rules use, ``run``, and ``cleanup`` when it stops it."""

import time

__all__ = ["BaseSensor", "Sensor", "PollingSensor"]


class BaseSensor(object):
    """What every sensor has: ``sensor_service`` and ``config``."""

    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config if config is not None else {}
        self.config = self._config

    def setup(self):
        """Called once, before ``run``."""
        raise NotImplementedError("the sensor must define setup()")

    def run(self):
        """Does the sensor's work."""
        raise NotImplementedError("the sensor must define run()")

    def cleanup(self):
        """Called when the sensor is stopped."""
        raise NotImplementedError("the sensor must define cleanup()")

    def add_trigger(self, trigger):
        """A trigger of its types is used by a rule (a dict: type, ref, parameters...)."""
        raise NotImplementedError("the sensor must define add_trigger()")

    def update_trigger(self, trigger):
        """A trigger changed."""
        raise NotImplementedError("the sensor must define update_trigger()")

    def remove_trigger(self, trigger):
        """A trigger is no longer used by any rule."""
        raise NotImplementedError("the sensor must define remove_trigger()")


class Sensor(BaseSensor):
    """A sensor whose ``run`` does the work (a listener, a loop)."""


class PollingSensor(BaseSensor):
    """A sensor whose ``poll`` is called every ``poll_interval`` seconds by ``run``."""

    def __init__(self, sensor_service, config=None, poll_interval=5):
        super(PollingSensor, self).__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    def run(self):
        while True:
            self.poll()
            time.sleep(self._poll_interval)

    def poll(self):
        """One poll."""
        raise NotImplementedError("the sensor must define poll()")

    def get_poll_interval(self):
        return self._poll_interval

    def set_poll_interval(self, poll_interval):
        self._poll_interval = poll_interval
