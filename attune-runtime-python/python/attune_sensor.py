"""Runs one StackStorm-style Python sensor for Attune.

Protocol (see attune_process::run_line_sensor): the first stdin line is the hello (entry
point, class name, config, poll interval, triggers); later stdin lines are either
``{"triggers": [...]}`` (the triggers the rules use now) or the answer to a key-value
request. The protocol goes out on the process's original stdout, one JSON line each:
``{"trigger": ..., "payload": ..., "trace_tag": ...}`` to dispatch, ``{"key": {...}}`` to
ask the key-value store. Whatever the sensor itself prints goes to stderr (its log): file
descriptor 1 is pointed at stderr before the sensor is imported.

SIGTERM calls the sensor's ``cleanup()`` and exits with code 0.
"""

import json
import os
import signal
import sys
import threading

_out = None
# Re-entrant: a cleanup() that dispatches from the SIGTERM handler, which runs on the main
# thread maybe within a send, does not wait for itself.
_out_lock = threading.RLock()
_answers = None


def _json_default(o):
    import datetime

    if isinstance(o, (datetime.datetime, datetime.date, datetime.time)):
        return o.isoformat()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    raise TypeError("a value of type %s cannot be sent as JSON" % type(o).__name__)


def _send(message):
    line = json.dumps(message, default=_json_default, allow_nan=False)
    with _out_lock:
        _out.write(line + "\n")
        _out.flush()


def _key_channel(line):
    """The key-value channel of the ``attune`` module: one request out, its answer in."""
    with _out_lock:
        _out.write('{"key": ' + line + "}\n")
        _out.flush()
    return _answers.get()


class SensorService(object):
    """``self.sensor_service`` of a sensor: dispatch, loggers, the key-value store."""

    def __init__(self, pack, class_name):
        from st2common.services.datastore import DatastoreService

        self._pack = pack
        self._class_name = class_name
        self.datastore_service = DatastoreService(pack, class_name)

    def get_logger(self, name):
        import attune

        return attune._stderr_logger(name)

    def dispatch(self, trigger, payload=None, trace_tag=None):
        """Sends one event of ``trigger`` (a ref, or a dict with ``ref``/``type`` or
        ``pack`` and ``name``, and optional ``parameters``)."""
        if isinstance(trigger, dict):
            trigger = {k: trigger[k] for k in ("ref", "type", "pack", "name", "parameters")
                       if k in trigger}
        _send({"trigger": trigger, "payload": payload if payload is not None else {},
               "trace_tag": trace_tag})

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        tag = getattr(trace_context, "trace_tag", None)
        if tag is None and isinstance(trace_context, dict):
            tag = trace_context.get("trace_tag")
        self.dispatch(trigger, payload, tag)

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self.datastore_service.get_value(name, local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        return self.datastore_service.set_value(
            name, value, ttl=ttl, local=local, scope=scope, encrypt=encrypt
        )

    def delete_value(self, name, local=True, scope="system"):
        return self.datastore_service.delete_value(name, local, scope=scope)

    def list_values(self, local=True, prefix=None, limit=None, offset=0, scope="system"):
        return self.datastore_service.list_values(
            local, prefix, limit=limit, offset=offset, scope=scope
        )


def _sensor_class(module, class_name, entry):
    from st2reactor.sensor.base import BaseSensor

    if class_name:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise LookupError("%s defines no class %r" % (entry, class_name))
        return cls
    found = [c for c in vars(module).values()
             if isinstance(c, type) and issubclass(c, BaseSensor)
             and c.__module__ == module.__name__]
    if len(found) != 1:
        raise LookupError(
            "%s defines %d sensor classes: name one with 'class_name'" % (entry, len(found))
        )
    return found[0]


def _key(trigger):
    return trigger.get("uid") or json.dumps(trigger, sort_keys=True)


def main():
    global _out, _answers
    import queue

    # The protocol keeps the original stdout; the sensor's own prints go to stderr.
    _out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _answers = queue.Queue()
    changes = queue.Queue()
    hello = json.loads(sys.stdin.readline())

    def read_stdin():
        """Only sorts what comes: answers for the waiting key request, trigger changes for
        the worker that applies them (so that a sensor may use the key store anywhere,
        setup() and add_trigger() included)."""
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                print("attune: not JSON on stdin: %r" % line[:200], file=sys.stderr)
                continue
            if isinstance(message, dict) and "triggers" in message:
                changes.put(message["triggers"])
            else:
                _answers.put(line)
        # The engine closed stdin: it is gone.
        os._exit(0)

    threading.Thread(target=read_stdin, name="attune-stdin", daemon=True).start()

    import attune

    attune.pack = hello.get("pack")
    attune.config = hello.get("config") or {}
    attune._channel = _key_channel

    entry = hello["entry_point"]  # an absolute path
    here = os.path.dirname(entry)
    sys.path.insert(0, here)
    for lib in (hello["pack_dir"] + "/sensors/lib", hello["pack_dir"] + "/lib"):
        sys.path.append(lib)
    # The eventlet stand-in, after site-packages: a real eventlet wins.
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attune_fallback"))

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(entry))[0], entry
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cls = _sensor_class(module, hello.get("class_name"), entry)
    service = SensorService(hello.get("pack"), cls.__name__)

    from st2reactor.sensor.base import PollingSensor

    config = hello.get("config") or {}
    if hello.get("poll_interval") and issubclass(cls, PollingSensor):
        sensor = cls(sensor_service=service, config=config,
                     poll_interval=hello["poll_interval"])
    else:
        sensor = cls(sensor_service=service, config=config)

    def stop(signum, frame):
        # Python runs signal handlers in the main thread, where run() is.
        try:
            sensor.cleanup()
        finally:
            sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sensor.setup()
    current = {}
    lock = threading.Lock()

    def follow(triggers):
        with lock:
            new = {_key(t): t for t in triggers}
            for k in list(current):
                if k not in new:
                    sensor.remove_trigger(current.pop(k))
            for k, t in new.items():
                if k not in current:
                    current[k] = t
                    sensor.add_trigger(t)

    follow(hello.get("triggers") or [])

    def apply_changes():
        while True:
            triggers = changes.get()
            try:
                follow(triggers)
            except Exception:  # noqa: B902 - logged, the sensor keeps running
                import traceback

                traceback.print_exc()

    threading.Thread(target=apply_changes, name="attune-triggers", daemon=True).start()
    sensor.run()
    sys.stderr.flush()
