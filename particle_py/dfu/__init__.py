"""DFU 1.1 and ST DfuSe, as a library: no printing, no CLI.

``engine``: DfuDevice (class requests), Dfuse (dfu-util's DfuSe algorithms), settle,
dfu_download / dfu_upload; ``probe``: finding DFU interfaces; ``layout``: DfuSe memory
layouts; ``suffix``: DFU suffix and prefixes; ``dfuse_file``: .dfu files; ``dfuse_options``:
the ``-s`` string; ``protocol``: requests, states, status texts, quirks.

Typical use (a pyusb device from ``particle_py.usb.find_devices()``)::

    from particle_py.dfu import DfuDevice, Dfuse, settle, layout
    from particle_py.dfu.probe import Match, probe

    entry = next(e for e in probe([usb_device], Match(alt_index=0)) if e.dfu_mode)
    dfu = DfuDevice(usb_device, entry.interface, quirks=entry.quirks)
    dfu.claim(); dfu.set_alt(entry.altsetting)       # 0 or a libusb error code
    settle(dfu)                                       # dfuIDLE, or DfuError
    dfuse = Dfuse(dfu, entry.functional.transfer_size, layout.parse(entry.alt_name),
                  emit=lambda kind, **fields: ...)    # progress and details, see engine.py
    dfuse.download_element(0x080A0000, firmware)      # erases the pages it touches, then writes
    dfuse.abort_to_idle()
    chunks = []; dfuse.upload(chunks.append, 0x080A0000, len(firmware))
    dfuse.leave(None)

Failures raise ``DfuError`` (a ParticlePyError) whose ``key`` names what went wrong.
"""
from .engine import Behaviour, DfuDevice, DfuError, Dfuse, TransferError, dfu_download, dfu_upload, settle

__all__ = ["Behaviour", "DfuDevice", "DfuError", "Dfuse", "TransferError", "dfu_download", "dfu_upload", "settle"]
