"""DFU 1.1 and ST DfuSe, as a library: no printing, no CLI.

``engine``: DfuDevice (class requests), Dfuse (dfu-util's DfuSe algorithms), settle,
dfu_download / dfu_upload; ``probe``: finding DFU interfaces; ``layout``: DfuSe memory
layouts; ``suffix``: DFU suffix and prefixes; ``dfuse_file``: .dfu files; ``dfuse_options``:
the ``-s`` string; ``protocol``: requests, states, status texts.
"""
from .engine import Behaviour, DfuDevice, DfuError, Dfuse, TransferError, dfu_download, dfu_upload, settle

__all__ = ["Behaviour", "DfuDevice", "DfuError", "Dfuse", "TransferError", "dfu_download", "dfu_upload", "settle"]
