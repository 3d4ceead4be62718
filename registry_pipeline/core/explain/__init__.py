"""Record-level explanations of what changed inside an artifact, for `delta show --explain`.

Depends on `seal/` (may use `workspace/`, `pointers/`); never imports `delta_log/` or `builders/`.
"""
