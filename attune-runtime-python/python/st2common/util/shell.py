"""Quoting of shell arguments."""

import attune as _attune


def quote_unix(value):
    """``value`` as one argument of a POSIX shell: single-quoted unless it is made only of
    characters a shell leaves alone."""
    import shlex

    return shlex.quote(str(value))


def quote_windows(value):
    """``value`` as one argument of a Windows command line (the quoting of
    ``subprocess.list2cmdline``)."""
    import subprocess

    return subprocess.list2cmdline([str(value)])


__getattr__ = _attune._missing_name(__name__, ["quote_unix", "quote_windows"])
