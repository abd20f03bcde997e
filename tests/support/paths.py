"""Where things are, for tests that start processes or read files of the checkout."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: app/, sim/, tests/, static/
