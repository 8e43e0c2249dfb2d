"""Password hashing for ``nbserver password`` and the login page: scrypt with a random salt.

scrypt comes with Python's hashlib (no extra dependency) and is memory-hard, which makes
guessing with GPUs expensive. A hash is stored as one string that names its own
parameters, so they can be raised later without breaking existing hashes:
``scrypt:<n>:<r>:<p>:<salt hex>:<key hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_N = 2**15  # CPU/memory cost: about 32 MiB and a few tens of milliseconds per check
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 4096  # longer inputs are refused rather than hashed


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=256 * 1024 * 1024
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, in the stored string form."""
    if not password:
        raise ValueError("The password must not be empty.")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"The password must be at most {MAX_PASSWORD_BYTES} bytes.")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{salt.hex()}:{key.hex()}"


def password_matches(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`; False for a malformed hash."""
    if not password or not hashed or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    parts = hashed.split(":")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = (int(value) for value in parts[1:4])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return False
    if n < 2 or n > 2**20 or r < 1 or r > 64 or p < 1 or p > 16:
        return False  # refuse parameters that would let a crafted config exhaust memory or time
    key = _scrypt(password, salt, n, r, p)
    return hmac.compare_digest(key, expected)
