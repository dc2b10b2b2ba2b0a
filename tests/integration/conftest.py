"""Fixtures shared by the integration tests that need no cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tfserving import Emulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """Emulated TF Serving servers started in this test, all stopped after it."""
    emulator = Emulator(tmp_path)
    yield emulator
    emulator.stop_all()
