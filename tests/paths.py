"""Where tests find the checkout's files, wherever in tests/ they live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout
