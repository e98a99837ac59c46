"""PKCE (RFC 7636): the S256 code challenge of a verifier, for every OAuth client PostFlow is
(auth's Frame.io login, the dashboard's sign-in)."""

from __future__ import annotations

import base64
import hashlib


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
