"""How outputs are shown: the one smoother of weekly shares used by every view."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.outputs import trailing_mean


def test_trailing_mean_skips_weeks_with_nothing_to_measure():
    x = np.array([0.2, np.nan, 0.4, 0.6, np.nan, np.nan, np.nan, np.nan, 1.0])
    got = trailing_mean(x, 4)
    # reference: pandas' rolling mean, which skips NaN (min_periods=1)
    ref = pd.Series(x).rolling(4, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(got, ref, equal_nan=True)
    assert got[1] == 0.2  # a week without decisions is not a week with share 0
    assert np.isnan(got[7])  # four empty weeks in a row: nothing to show
    assert got[8] == 1.0


def test_trailing_mean_random_series_matches_pandas():
    rng = np.random.default_rng(3)
    x = rng.random(300)
    x[rng.random(300) < 0.2] = np.nan
    for weeks in (1, 4, 13):
        np.testing.assert_allclose(trailing_mean(x, weeks),
                                   pd.Series(x).rolling(weeks, min_periods=1).mean(),
                                   equal_nan=True)
