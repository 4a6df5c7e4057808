"""Particle's USB control requests (normal-mode devices): the protocol floor beside ``dfu/``.

- ``exchange``: the INIT/SEND/CHECK/RECV exchange of vendor control transfers.
- ``session``: ``ControlSession``, the owner of the device's handle, and its ``Reply``.
- ``protobuf``: the one protobuf codec for requests and replies (outside input).
- one module per request family: ``device`` (ids, mode, restarts, listening), ``module_info``,
  ``firmware_update``, ``network`` (interfaces, cellular ids).

Request numbers, result codes and device modes are ``particle_py.control_codes`` (shared with
the simulator). docs/ARCHITECTURE.md says how to add a request family.
"""
from particle_py.control.session import ControlSession, Reply

__all__ = ["ControlSession", "Reply"]
