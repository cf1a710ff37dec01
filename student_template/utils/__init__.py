"""Another name for the `cs231n` package (some terms' notebooks import `utils`).

Edit `cs231n/`; this package only forwards to it.
"""

import importlib as _importlib
import sys as _sys

from cs231n import *  # noqa: F401,F403

for _name in ('data_utils', 'gradient_check', 'solver'):
    _sys.modules[f"{__name__}.{_name}"] = _importlib.import_module(f"cs231n.{_name}")
    globals()[_name] = _sys.modules[f"{__name__}.{_name}"]
