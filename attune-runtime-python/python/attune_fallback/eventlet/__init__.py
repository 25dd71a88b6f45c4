"""A stand-in for the few ``eventlet`` calls StackStorm sensors make (``eventlet.sleep``,
``spawn``), on threads. Only found when the real eventlet is not installed (it comes after
site-packages on ``sys.path``): a pack that needs more of eventlet lists it in its
``requirements.txt``."""

import threading as _threading
import time as _time

__all__ = ["sleep", "spawn", "spawn_n", "monkey_patch", "GreenThread"]


def sleep(seconds=0):
    _time.sleep(seconds)


class GreenThread(object):
    """A thread running ``fn(*args, **kwargs)``; ``wait()`` returns its value."""

    def __init__(self, fn, args, kwargs):
        self._value = None
        self._error = None

        def target():
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as e:  # noqa: B902 - handed to wait()
                self._error = e

        self._thread = _threading.Thread(target=target, daemon=True)
        self._thread.start()

    def wait(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def kill(self, *args):
        raise NotImplementedError(
            "Attune's eventlet stand-in cannot kill a thread; install eventlet in the "
            "pack's requirements.txt"
        )


def spawn(fn, *args, **kwargs):
    return GreenThread(fn, args, kwargs)


def spawn_n(fn, *args, **kwargs):
    GreenThread(fn, args, kwargs)


def monkey_patch(*args, **kwargs):
    """Nothing to patch: the stand-in uses threads."""
