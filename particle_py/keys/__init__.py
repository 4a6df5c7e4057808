"""Device keys and server keys, with no openssl.

- ``formats``: generate (RSA-1024 / P-256), recognise and convert keys (PKCS#1, PKCS#8,
  SEC1, SPKI; PEM or DER, slot padding tolerated), slot-fit checks.
- ``server_blob``: the server-key slot image (key, 0xFF, host TLV, u16 port) and its decoding.
- ``backup``: timestamped copies of a slot before any write; 0600 files written atomically.
- ``flows``: `particle keys new|load|save|send|doctor|server|address|protocol` as functions
  that report lines through ``say`` and raise ParticlePyError.
"""
