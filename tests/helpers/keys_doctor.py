"""The last line `particle keys doctor` prints, proven or not, for the tests that read it."""

PROVEN = "Okay!  New keys in place, your device should restart."


def unproven(ident: str) -> str:
    """keys doctor's last line when no handshake proved the key (no "Okay!": that means proven)."""
    return (f"New keys in place, your device should restart; not proven, so breathing cyan after the reset is the "
            f"proof (or ask the cloud now: particle keys verify {ident}).")
