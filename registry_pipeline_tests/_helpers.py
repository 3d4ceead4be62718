"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path


def unseal(folder: Path) -> None:
    """Make a sealed (0444/0555) folder writable, portably (tests may not run as root)."""
    for directory, _subdirs, files in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
