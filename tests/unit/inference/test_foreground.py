"""The mask and statistics helpers of foreground.py against the numpy and SciPy functions they stand for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from aquaflow_inference.foreground import grown, median_of


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_growing_a_mask_is_dilating_it_that_many_times(steps: int) -> None:
    rng = np.random.default_rng(steps)
    for _ in range(300):
        height, width = (int(n) for n in rng.integers(1, 50, 2))
        mask = rng.random((height, width)) < rng.random() * 0.1
        expected = ndimage.binary_dilation(mask, structure=np.ones((3, 3), dtype=bool), iterations=steps)
        np.testing.assert_array_equal(grown(mask, steps), expected)


def test_the_median_is_numpy_s_to_the_last_bit_and_of_the_same_type() -> None:
    rng = np.random.default_rng(0)
    for size in [*range(1, 40), 255, 256, 1001]:
        values = (rng.random(size) * 255).astype(np.float32)
        for sample in (values, np.round(values), values.reshape(-1, 1)[::2]):
            expected = np.median(sample)
            found = median_of(sample)
            assert type(found) is type(expected)
            assert found == expected
