"""Float comparisons that hold on every processor.

BLAS kernels (OpenBLAS on Intel, AMD and ARM, Accelerate on macOS) sum in
different orders, so float32 network outputs differ in their last bits from
one machine to the next, and more where values are large or errors build up
over recurrent steps. An absolute tolerance (``atol=1e-4``) is too tight for
logits of magnitude 7 and too loose for values near 0.001; these compare
against a tolerance that scales with the values compared.
"""

from __future__ import annotations

import numpy as np

#: float32 has 24 bits of mantissa (about 6e-8 relative); an LSTM run over
#: tens of steps with saturated gates loses a few bits more. 1e-4 of the
#: values' scale is ~1000 times what float32 rounding leaves after one step,
#: and ~10,000 times smaller than what a wrong gate, weight or state gives.
FLOAT32_REL = 1e-4


def assert_close(got, expected, rel: float = FLOAT32_REL) -> None:
    """``got`` equals ``expected`` to within ``rel`` of the largest magnitude in ``expected``.

    The scale is the array's, not each element's: an element near 0 in a
    vector of logits carries the rounding error of the sum that made it,
    which is that of the vector's large terms.
    """
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"shapes differ: {got.shape} against {expected.shape}"
    scale = float(np.abs(expected).max(initial=0.0))
    tolerance = rel * max(scale, np.finfo(np.float32).tiny)
    worst = float(np.abs(got - expected).max(initial=0.0))
    assert worst <= tolerance, f"differs by {worst:.3g}, more than {tolerance:.3g} ({rel:g} of the scale {scale:.3g})"
