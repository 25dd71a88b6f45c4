"""textkit: the tiny library the pytools example pack installs from its own wheel
(wheels/textkit-0.1-py3-none-any.whl, built from this file by make_wheel.py)."""

VERSION = "0.1"


def slugify(text):
    out = []
    for ch in text.lower():
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")
