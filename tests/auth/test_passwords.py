"""scrypt password hashes: salted, self-describing, checked in constant time, malformed ones refused."""

from __future__ import annotations

import pytest

from nbserver.auth.passwords import MAX_PASSWORD_BYTES, hash_password, password_matches


def test_hash_matches_its_password_only():
    hashed = hash_password("pässword")
    assert password_matches("pässword", hashed)
    assert not password_matches("password", hashed)
    assert not password_matches("", hashed)


def test_hashes_are_salted():
    assert hash_password("same") != hash_password("same")


def test_hash_names_its_algorithm_and_parameters():
    kind, n, r, p, salt, key = hash_password("x").split(":")
    assert kind == "scrypt" and int(n) >= 2**14 and int(r) == 8 and int(p) == 1
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(key)) == 32


@pytest.mark.parametrize("hashed", ["", "sha1:abc:def", "scrypt:1:2:3", "scrypt:x:8:1:00:00",
                                    "scrypt:1048576000:8:1:00:00", "argon2:whatever", "plain-text-password"])
def test_malformed_or_dangerous_hashes_never_match(hashed):
    assert not password_matches("plain-text-password", hashed)


def test_empty_and_oversized_passwords_are_refused():
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("x" * (MAX_PASSWORD_BYTES + 1))
    assert not password_matches("x" * (MAX_PASSWORD_BYTES + 1), hash_password("x"))
