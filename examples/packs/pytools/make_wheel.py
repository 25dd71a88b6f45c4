"""Rebuilds wheels/textkit-0.1-py3-none-any.whl from src/textkit (run it after editing
src/textkit): a pure-Python wheel, written with zipfile alone (no build tools needed)."""

import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.1"
INFO = "textkit-%s.dist-info" % VERSION

with open(os.path.join(HERE, "src", "textkit", "__init__.py")) as f:
    source = f.read()
files = {
    "textkit/__init__.py": source,
    INFO + "/METADATA": "Metadata-Version: 2.1\nName: textkit\nVersion: %s\n" % VERSION,
    INFO + "/WHEEL": "Wheel-Version: 1.0\nGenerator: make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files[INFO + "/RECORD"] = "".join("%s,,\n" % f for f in files) + INFO + "/RECORD,,\n"
path = os.path.join(HERE, "wheels", "textkit-%s-py3-none-any.whl" % VERSION)
with zipfile.ZipFile(path, "w") as z:
    for name in sorted(files):
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        z.writestr(info, files[name])
print(path)
