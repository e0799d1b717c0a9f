"""The one array type the training code annotates with (numpy's dtypes vary along a computation)."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

Array = NDArray[Any]
