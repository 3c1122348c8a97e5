"""Predictions of the theory that studies overlay on experiments (MATH.md section 1)."""

from __future__ import annotations
