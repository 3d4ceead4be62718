"""Diagnosis of a real fault: text files whose line endings were converted after sealing."""

from __future__ import annotations

from registry_pipeline.core.seal.hashing import sha256_bytes

MAX_DIAGNOSE = 16 << 20
"""Larger files are not re-hashed for the diagnosis."""

ADVICE = (
    "line endings were converted after sealing: git's core.autocrlf or a text/eol attribute "
    "does this on checkout or commit; restore the "
    "original bytes and mark sealed folders '-text' in .gitattributes (`registry init` writes it)"
)


def diagnose(data: bytes, sealed_sha256: str, sealed_bytes: int) -> str | None:
    """Explain a mismatch when the file matches its seal once line endings are converted back.

    Only a conversion git makes explains it: the whole file in one direction (every line end
    now LF, or every one now CRLF). A file with one carriage return added or taken away, and the
    others not, was edited, even if converting it back would restore the sealed bytes."""
    if b"\0" in data or b"\n" not in data:
        return None
    crlf = data.count(b"\r\n")
    as_lf = data.replace(b"\r\n", b"\n")
    if crlf == 0 and _matches(as_lf.replace(b"\n", b"\r\n"), sealed_sha256, sealed_bytes):
        return "line endings were converted after sealing (sealed with CRLF, now LF)"
    if crlf == data.count(b"\n") and _matches(as_lf, sealed_sha256, sealed_bytes):
        return "line endings were converted after sealing (sealed with LF, now CRLF)"
    return None


def _matches(candidate: bytes, sealed_sha256: str, sealed_bytes: int) -> bool:
    if sealed_bytes >= 0 and len(candidate) != sealed_bytes:
        return False
    return sha256_bytes(candidate) == sealed_sha256
