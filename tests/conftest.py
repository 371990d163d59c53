"""Shared test fixtures: paths of the real clips copied into tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def grid_mpg() -> Path:
    """GRID clip 'bin blue at f two now' (male speaker), MPEG-1 360x288 25 fps + MP2 audio."""
    return FIXTURES / "bbaf2n.mpg"


@pytest.fixture(scope="session")
def grid_mpg_female() -> Path:
    """GRID clip 'lay blue by c two again' (female speaker)."""
    return FIXTURES / "lbbc2a.mpg"
