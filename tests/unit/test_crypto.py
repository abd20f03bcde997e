import pytest

from app.crypto import DecryptionError, KeyRing, KeyRingError, generate_key


def ring(*kids):
    return KeyRing.parse(",".join(f"{kid}:{generate_key()}" for kid in kids))


def test_encrypted_value_round_trips_and_names_the_primary_key():
    keys = ring("new", "old")
    token = keys.encrypt(b"shared-secret", b"tenant-a")
    assert token.startswith("v1:new:")
    assert b"shared-secret" not in token.encode()
    assert keys.decrypt(token, b"tenant-a") == b"shared-secret"


def test_ciphertext_bound_to_another_tenant_fails_to_decrypt():
    keys = ring("k1")
    token = keys.encrypt(b"secret", b"tenant-a")
    with pytest.raises(DecryptionError):
        keys.decrypt(token, b"tenant-b")


def test_tampered_ciphertext_fails_to_decrypt():
    keys = ring("k1")
    token = keys.encrypt(b"secret", b"a")
    i = len(token) - 10
    flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    with pytest.raises(DecryptionError):
        keys.decrypt(flipped, b"a")


def test_old_keys_still_decrypt_after_a_new_primary_is_added():
    old = ring("old")
    token = old.encrypt(b"secret", b"a")
    rotated = KeyRing.parse(f"new:{generate_key()}," + ",".join(f"{k}:{_b64(v)}" for k, v in old.keys))
    assert rotated.decrypt(token, b"a") == b"secret"
    assert rotated.needs_rotation(token)
    assert not rotated.needs_rotation(rotated.encrypt(b"secret", b"a"))


def test_value_under_a_removed_key_is_reported_not_garbled():
    token = ring("gone").encrypt(b"secret", b"a")
    with pytest.raises(DecryptionError, match="not in ENCRYPTION_KEYS"):
        ring("k1").decrypt(token, b"a")


@pytest.mark.parametrize("raw", ["", "nokey", "k1:", "k 1:" + "A" * 43, "k1:!!!!", "k1:c2hvcnQ", "a:{k},a:{k}"])
def test_malformed_key_rings_are_refused(raw):
    with pytest.raises(KeyRingError):
        KeyRing.parse(raw.replace("{k}", generate_key()))


def _b64(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()
