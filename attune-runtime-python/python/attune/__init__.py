"""The helper module of Attune's Python actions.

``attune.execution_id``: the execution's id. ``attune.config``: the pack's config. ``attune.get_secret(name)``: the value of the
action's secret parameter ``name`` (``None`` when it has none of that name). ``attune.logger``:
a ``logging.Logger`` whose lines go to the execution's log stream (stderr).

Kept light: ``logging`` is imported the first time ``attune.logger`` is used, so that an
action that does not log does not pay for it at every start.
"""

import sys

execution_id = None
action = None
pack = None
config = {}
_secrets = {}
_logger = None
# The key-value channel: in a warm worker a function (request line -> answer line) the
# runner sets once; in a one-shot run the socket and token of the request, and the open
# connection.
_channel = None
_socket = None
_conn = None
# Every request waits for its answer before the next is sent (threads of one action).
import _thread

_lock = _thread.allocate_lock()
del _thread

# The longest key-value request, in bytes (MAX_REQUEST_BYTES in keys.rs).
_MAX_REQUEST = 512 << 10


def _make_logger():
    return _stderr_logger("attune.action", "%(levelname)s %(message)s")


# The level of the action's loggers (the runner's `log_level`; StackStorm's AUDIT is above
# CRITICAL), and the loggers made here, whose level follows it from run to run.
_LEVELS = {"AUDIT": 100, "CRITICAL": 50, "ERROR": 40, "WARNING": 30, "INFO": 20, "DEBUG": 10}
_level = 10
_made = []


def _stderr_logger(name, fmt="%(levelname)s [%(name)s] %(message)s"):
    """The logger ``name``, its lines (``fmt``) written to whatever ``sys.stderr`` is when
    they are logged: the execution's stderr, in a warm worker too (where it changes with
    each run). Its handler is added once per interpreter."""
    import logging

    log = logging.getLogger(name)
    if not log.handlers:

        class _Stderr(logging.StreamHandler):
            @property
            def stream(self):
                return sys.stderr

            @stream.setter
            def stream(self, value):
                pass

        handler = _Stderr()
        handler.setFormatter(logging.Formatter(fmt))
        log.addHandler(handler)
        log.propagate = False
        _made.append(name)
    log.setLevel(_level)
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
    global execution_id, action, pack, config, _secrets, _socket, _conn, _level
    _level = _LEVELS.get(request.get("log_level") or "DEBUG", 10)
    if _made:
        import logging

        for name in _made:
            logging.getLogger(name).setLevel(_level)
    env = request.get("env")
    if env:
        import os

        os.environ.update(env)  # a warm worker restores its environment after the run
    execution_id = request.get("execution_id")
    action = request.get("action")
    pack = request.get("pack")
    config = request.get("config") or {}
    _secrets = dict(request.get("secrets") or {})
    _socket = request.get("keys")
    _conn = None


class KeyValueError(Exception):
    """A key-value request failed: the engine's answer (a bad name, an unknown user, a
    store error)."""


def _key_request(request):
    """Sends one request to the engine's key-value store (see keys.rs) and returns the
    ``ok`` part of its answer; raises KeyValueError with the engine's error."""
    from attune_runner import dumps, loads

    line = dumps(request)
    if len(line) > _MAX_REQUEST:
        raise ValueError(
            "the key-value request is %d bytes, more than the %d allowed"
            % (len(line), _MAX_REQUEST)
        )
    with _lock:
        answer = _exchange(line)
    if not answer:
        raise KeyValueError("the engine closed the key-value channel")
    reply = loads(answer)
    if "error" in reply:
        raise KeyValueError(reply["error"])
    return reply.get("ok")


def _exchange(line):
    global _conn
    if _channel is not None:
        return _channel(line)
    if _socket is None:
        raise KeyValueError("no key-value store is available to this run")
    if _conn is None:
        import socket

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(_socket["socket"])
        _conn = s.makefile("rwb")
        _conn.write(_socket["token"].encode() + b"\n")
    _conn.write(line.encode("utf-8") + b"\n")
    _conn.flush()
    return _conn.readline().decode("utf-8")


# StackStorm's top-level packages: a module of them that Attune does not ship is an import
# error that says so (the finder is asked last, after every other finder missed).
_ST2_PACKAGES = ("st2common", "st2client", "st2actions", "st2reactor", "st2tests")


class NotProvidedError(ModuleNotFoundError):
    """A StackStorm module or name that Attune does not provide."""


def _not_provided(what):
    return NotProvidedError(
        "%s is StackStorm's, and Attune does not provide it (Attune ships the parts of "
        "st2common that actions use: see 'Actions written for StackStorm' in Attune's "
        "docs/python.md)" % what
    )


class _St2Finder(object):
    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.split(".", 1)[0] in _ST2_PACKAGES:
            raise _not_provided("module '%s'" % fullname)
        return None


def _missing_name(module, names):
    """A module ``__getattr__`` for a StackStorm module Attune ships in part: a public name
    it lacks is an import error naming it."""

    def __getattr__(name):
        if name.startswith("_"):
            raise AttributeError("module %r has no attribute %r" % (module, name))
        raise _not_provided(
            "'%s' of module '%s' (Attune's has: %s)" % (name, module, ", ".join(names))
        )

    return __getattr__


if not any(isinstance(f, _St2Finder) for f in sys.meta_path):
    sys.meta_path.append(_St2Finder())


class Action(object):
    """An optional base class for class-style actions (``run(self, **params)``)."""

    def __init__(self, config=None):
        self.config = config if config is not None else {}

    @property
    def logger(self):
        return __getattr__("logger")

    def run(self, **params):
        raise NotImplementedError("the action's class must define run(self, **params)")
