"""Device keys and server keys, with no openssl.

- ``formats``: generate (RSA-1024 / P-256), recognise and convert keys (PKCS#1, PKCS#8,
  SEC1, SPKI; PEM or DER, slot padding tolerated), slot-fit checks.
- ``server_blob``: the server-key slot image (key, 0xFF, host TLV, u16 port) and its decoding.
- ``backup``: timestamped copies of a slot before any write (0600, through ``private_files``).

A library: it imports only the ground floor and ``cryptography``. The `particle keys` flows,
which use a device and the cloud, are the operation ``particle_py.ops.keys``.
"""
