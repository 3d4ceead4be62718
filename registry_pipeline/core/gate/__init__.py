"""The publish gate: a snapshot becomes active only once every blocking check passed on its root."""
