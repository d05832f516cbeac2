"""The scaled float comparison: loose where the values are large, tight where they are small."""

import numpy as np
import pytest

from .floats import assert_close


def test_a_difference_of_last_bits_on_large_logits_passes():
    expected = np.array([7.1, -3.2, 0.004], dtype=np.float32)
    assert_close(expected + np.float32(1.06e-4), expected)  # what one processor's BLAS gave against another's


def test_a_real_difference_fails_at_any_scale():
    with pytest.raises(AssertionError, match="differs by"):
        assert_close([7.1, -3.2], [7.1, -3.21])
    with pytest.raises(AssertionError, match="differs by"):
        assert_close([0.001, 0.002], [0.001, 0.0021])  # an absolute 1e-4 would have let this through


def test_shapes_must_agree():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(np.zeros(3), np.zeros(4))
