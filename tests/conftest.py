"""Shared fixtures: small, fast model configurations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: A small service that still exercises every mechanism (4 clinicians, caseloads of 12).
SMALL = dict(n_clinicians=4, caseload_cap=12, referrals_per_week=2.0, crisis_rate=0.01)


@pytest.fixture
def small_params():
    return dict(SMALL)
