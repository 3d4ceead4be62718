"""Adapters from sealed input snapshots to the pure builders; importing this registers them."""

from __future__ import annotations
