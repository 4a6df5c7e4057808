"""What each dfu-util release prints and returns, as data.

``MESSAGES`` maps an event or message key to ``(stream, template[, min_verbose])`` for
dfu-util 0.11; ``_CHANGES`` lists, per older release, the entries that differ from the next
newer one (None = that release prints nothing there). Streams: ``out`` = stdout, ``warn`` =
stderr with the ``<prog>: `` prefix (warnx/errx), ``err`` = raw stderr. ``ERRORS`` maps a
failure to its stderr lines and ``EXIT`` to its exit status, the same way. Templates use
str.format fields.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...dfu.engine import Behaviour

VERSIONS = ("0.8", "0.9", "0.10", "0.11")
NEWEST = "0.11"

_STATE = "DFU state({state}) = {state_name}, status({status}) = {status_text}"
_STATE_OLD = "state({state}) = {state_name}, status({status}) = {status_text}"

MESSAGES = {
    # loading the file
    "suffix_missing": ("warn", "Warning: {reason}"),
    "suffix_future": ("warn", "A valid DFU suffix will be required in a future dfu-util release"),
    "suffix_version": ("out", "DFU suffix version {version:x}", 1),
    "stdin_read": ("out", "Read {size} bytes from stdin", 1),
    "match_vendor": ("out", "Match vendor ID from file: {vid:04x}"),
    "match_product": ("out", "Match product ID from file: {pid:04x}"),
    "waiting": ("out", "Waiting for device, exit with ctrl-C"),
    # probing
    "probe_cannot_open": ("warn", "Cannot open DFU device {vid:04x}:{pid:04x} found on devnum {devnum} ({error})"),
    "probe_no_functional": ("warn", "Device has DFU interface, but has no DFU functional descriptor"),
    "probe_langid_failed": ("warn", "Failed to retrieve language identifiers"),
    "probe_langid_broken": ("warn", "Broken LANGID string descriptor"),
    "probe_string_failed": ("warn", "Failed to retrieve string descriptor {0}"),
    "probe_string_short": ("warn", "String descriptor {0} too short"),
    "probe_string_malformed": ("warn", "Malformed string descriptor {0}, type = 0x{1:02x}"),
    "probe_string_patched": ("warn", "Patching string descriptor {0} length (was {1}, received {2})"),
    "probe_deducing_version": ("out", "Deducing device DFU version from functional descriptor length"),
    "probe_functional_broken": ("out", "Error obtaining DFU functional descriptor\nPlease report this as a bug!\n"
                                       "Warning: Assuming DFU version 1.0\nWarning: Transfer size can not be detected"),
    "list_entry": ("out", 'Found {kind}: [{vid:04x}:{pid:04x}] ver={bcd:04x}, devnum={devnum}, cfg={cfg}, '
                          'intf={intf}, path="{path}", alt={alt}, name="{name}", serial="{serial}"'),
    # opening and the run-time part
    "multiple_alt_dfuse": ("out", "Multiple alternate interfaces for DfuSe file"),
    "opening": ("out", "Opening DFU capable USB device..."),
    "device_id": ("out", "Device ID {vid:04x}:{pid:04x}"),
    "dfu_version_runtime": ("out", "Run-Time device DFU version {version:04x}"),
    "dfu_version_dfu": ("out", "Device DFU version {version:04x}"),
    "attributes": ("out", "DFU attributes: (0x{attributes:02x}){names}", 1),
    "detach_timeout": ("out", "Detach timeout {ms} ms", 1),
    "claiming_runtime": ("out", "Claiming USB DFU (Run-Time) Interface..."),
    "set_alt_zero": ("out", "Setting Alternate Interface zero..."),
    "runtime_determining": ("out", "Determining device status..."),
    "runtime_status": ("out", _STATE),
    "no_get_status": ("out", "Device does not implement get_status, assuming appIDLE"),
    "really_runtime": ("out", "Device really in Run-Time Mode, send DFU detach request..."),
    "error_detaching": ("warn", "error detaching"),
    "will_detach": ("out", "Device will detach and reattach..."),
    "resetting_usb": ("out", "Resetting USB..."),
    "runtime_dfuerror": ("out", "dfuERROR, clearing status"),
    "already_dfu": ("warn", "WARNING: Device already in DFU mode? (bState={state} {state_name})"),
    "opening_dfu": ("out", "Opening DFU USB Device..."),
    # DFU mode prologue
    "claiming": ("out", "Claiming USB DFU Interface..."),
    "set_alt": ("out", "Setting Alternate Interface #{alt} ..."),
    "determining_status": ("out", "Determining device status..."),
    "status": ("out", _STATE),
    "status_idle": None,
    "clearing_status": ("out", "Clearing status"),
    "aborting_transfer": ("out", "Aborting previous incomplete transfer"),
    "status_warning": ("out", "WARNING: DFU Status: '{status_text}'"),
    "dfu_mode_version": ("out", "DFU mode device DFU version {version:04x}"),
    "dfuse_on_plain": ("out", "Warning: DfuSe option used on non-DfuSe device"),
    "transfer_size": ("out", "Device returned transfer size {size}"),
    "transfer_override": ("out", "Warning: Overriding device-reported transfer size"),
    "transfer_limited": ("out", "Limited transfer size to {size}"),
    "transfer_adjusted": ("out", "Adjusted transfer size to {size}"),
    "cant_detach": ("warn", "can't detach"),
    # plain DFU
    "copying_to_device": ("out", "Copying data from PC to DFU device"),
    "copying_from_device": ("out", "Copying data from DFU device to PC"),
    "dfu_poll_timeout": ("err", "Poll timeout {ms} ms", 2),
    "block_failed": ("out", " failed!\n" + _STATE),
    "sent_total": ("out", "Sent a total of {total} bytes", 1),
    "manifest_status": ("out", _STATE),
    "completion_status_unreadable": ("warn", "unable to read DFU status after completion ({error})"),
    "manifest_wait_reset": ("out", "Resetting USB to switch back to runtime mode"),
    "reset_after_download_failed": ("err", "error resetting after download ({error})"),
    "done": ("out", "Done!"),
    "received_total": ("out", "Received a total of {total} bytes"),
    "upload_error": ("warn", "\nError during upload ({error})"),
    "upload_failed": ("out", "\nFailed."),
    "unexpected_upload_size": ("warn", "Unexpected number of bytes uploaded from device"),
    "final_reset": ("out", "Resetting USB to switch back to Run-Time mode"),
    "final_reset_failed": ("warn", "error resetting after download: {error}"),
    # DfuSe
    "dfuse_name": ("out", 'DfuSe interface name: "{name}"'),
    "layout_warning": ("warn", "{text}"),
    "segment": ("out", "{line}", 1),
    "unprotect": ("out", "Device disconnects, erases flash and resets now"),
    "mass_erase": ("out", "Performing mass erase, this can take a moment"),
    "mass_erase_timeout": ("out", "Setting timeout to 35 seconds"),
    "command_mode": ("out", "DfuSe command mode"),
    "downloading_element": ("out", "Downloading element to address = 0x{address:08x}, size = {size}"),
    "file_downloaded": ("out", "File downloaded successfully"),
    "erase_page": ("err", "Erasing page size {page_size} at address 0x{address:08x}, page starting at "
                          "0x{page_start:08x}", 1),
    "chunk": ("err", " Download from image offset {offset:08x} to memory {start:08x}-{end:08x}, size {size}", 1),
    "poll_timeout": ("err", "   Poll timeout {ms} ms", 2),
    "set_address": ("err", "  Setting address pointer to 0x{address:08x}", 2),
    "chunk_extends": ("err", " Chunk extends into next page, erase it as well", 2),
    "command_state": ("err", _STATE),
    "chunk_failed": ("out+err", " failed!", _STATE),
    "manifest_transition": ("out", "Transitioning to dfuMANIFEST state"),
    "leave_request": ("out", "Submitting leave request..."),
    "upload_limit_segment": ("out", "Limiting upload to end of memory segment, {limit} bytes"),
    "upload_limit": ("out", "Limiting upload to {limit} bytes"),
    "unbound_upload": ("warn", "Unbound upload not supported on DfuSe devices"),
    "upload_limit_default": ("out", "Limiting default upload to {limit} bytes"),
    "dfuse_images": ("out", "File contains {count} DFU images"),
    "dfuse_notice": None,
    "dfuse_image": ("out", "Parsing DFU image {index}"),
    "target_name": ("out", "Target name: {name}"),
    "no_target_name": ("out", "No target name"),
    "image_alt": ("out", "Image for alternate setting {alt}, ({count} elements, total size = {size})"),
    "image_set_alt": ("out", "Setting Alternate Interface #{alt} ..."),
    "image_no_alt": ("warn", "No alternate setting {alt} (skipping elements)"),
    "image_alt_mismatch": None,
    "dfuse_element": ("out", "Parsing element {index}, address = 0x{address:08x}, size = {size}"),
    "leftover": ("warn", "{count} bytes leftover"),
    "dfuse_done": ("out", "Done parsing DfuSe file"),
}

# Failures: key -> list of (stream, template). Fields as in the engine's args, by position.
ERRORS = {
    "no_device": [("warn", "No DFU capable USB device available")],
    "more_than_one": [("warn", "More than one DFU capable USB device found! Try `--list' and specify the serial "
                               "number or disconnect all but one device\n")],
    "more_than_one_after_detach": [("warn", "More than one DFU capable USB device found! Try `--list' and specify "
                                            "the serial number or disconnect all but one device")],
    "cannot_open_device": [("warn", "Cannot open device: {error}")],
    "cannot_open_dfu_device": [("warn", "Cannot open device")],
    "lost_device": [("warn", "Lost device after RESET?")],
    "not_dfu_mode": [("warn", "Device is not in DFU mode")],
    "cannot_claim": [("warn", "Cannot claim interface - {error}")],
    "cannot_claim_runtime": [("warn", "Cannot claim interface {intf}: {error}")],
    "cannot_set_alt": [("warn", "Cannot set alternate interface: {error}")],
    "cannot_set_alt_zero": [("warn", "Cannot set alternate interface zero: {error}")],
    "runtime_get_status": [("warn", "error get_status: {error}")],
    "reset_after_detach": [("warn", "error resetting after detach: {error}")],
    "transfer_size_required": [("warn", "Transfer size must be specified")],
    "file_id_mismatch": [("warn", "Error: File ID {fv:04x}:{fp:04x} does not match device ({rv:04x}:{rp:04x} or "
                                  "{dv:04x}:{dp:04x})")],
    "cannot_read_file": [("warn", "Could not open file {name} for reading: {reason}")],
    "cannot_write_file": [("warn", "Cannot open file {name} for writing: {reason}")],
    "unsupported_length": [("warn", "Unsupported DFU suffix length {value}")],
    "invalid_length": [("warn", "Invalid DFU suffix length {value}")],
    "address": [("warn", "Invalid dfuse address: {rest}")],
    "modifier": [("warn", "Invalid dfuse modifier: {rest}")],
    "layout_upload": [("warn", "Failed to parse memory layout")],
    "layout_download": [("warn", "Failed to parse memory layout for alternate interface {alt}")],
    "dfuse_file_raw": [("warn", "This is a DfuSe file, not meant for raw download")],
    "not_dfuse_file": [("warn", "Only DfuSe file version 1.1a is supported"),
                       ("warn", "(for raw binary download, use the --dfuse-address option)")],
    "too_small": [("warn", "File too small for a DfuSe file")],
    "bad_signature": [("warn", "No valid DfuSe signature")],
    "bad_revision": [("warn", "DFU format revision {0} not supported")],
    "bad_target": [("warn", "No valid target signature")],
    "element_too_big": [("warn", "File too small for element size")],
    "corrupt": [("warn", "Corrupt DfuSe file: Cannot read {0} bytes from {1} bytes")],
    # engine failures (particle_py.dfu.engine.ERRORS keys); {name} = libusb error name of args[0]
    "get_status": [("warn", "error get_status: {name}")],
    "clear_status": [("warn", "error clear_status")],
    "abort": [("warn", "can't send DFU_ABORT")],
    "usb_communication": [("warn", "USB communication error")],
    "still_runtime": [("warn", "Device still in Run-Time Mode!")],
    "status_not_ok": [("warn", "Status is not OK: {0}")],
    "special_download": [("warn", "dfuse_download: libusb_control_transfer returned {1} ({name})"),
                         ("warn", 'Error during special command "{0}" download')],
    "special_get_status": [("warn", 'Error during special command "{0}" get_status')],
    "wrong_state": [("warn", 'Wrong state after command "{0}" download')],
    "not_executed": [("warn", "{0} not correctly executed")],
    "device_stuck": [("warn", "Device stuck after special command request")],
    "cannot_erase": [("warn", "Page at 0x{0:08x} can not be erased")],
    "last_page_not_writeable": [("warn", "Last page at 0x{0:08x} is not writeable")],
    "page_not_writeable": [("warn", "Page at 0x{0:08x} is not writeable")],
    "page_not_readable": [("warn", "Page at 0x{0:08x} is not readable")],
    "dfuse_download": [("warn", "dfuse_download: libusb_control_transfer returned {0} ({name})"),
                       ("warn", "Error during download")],
    "dfuse_upload": [("warn", "dfuse_upload: libusb_control_transfer returned {0} ({name})")],
    "download_get_status": [("warn", "Error during download get_status")],
    "whole_chunk": [("warn", "Failed to write whole chunk: {0} of {1} bytes")],
    "abort_request": [("warn", "Error sending dfu abort request")],
    "abort_get_status": [("warn", "Error during abort get_status")],
    "abort_not_idle": [("warn", "Failed to enter idle state on abort")],
    "mass_erase_needs_force": [("warn", "The mass erase command can only be used with force")],
    "unprotect_needs_force": [("warn", "The read unprotect command will erase the flash memoryand can only be "
                                       "used with force\n")],
    "dfu_download": [("warn", "Error during download ({name})")],
    "dfu_download_status": [("warn", "Error during download get_status ({name})")],
    "dfu_download_failed": [],
    "completion_packet": [("warn", "Error sending completion packet ({name})")],
    "too_many_bytes": [("warn", "Received too many bytes")],
    "upload_size_mismatch": [("warn", "Unexpected number of bytes uploaded from device")],
    "software": [("warn", "{0}")],
    "libusb_init": [("warn", "unable to initialize libusb: {message}")],
}

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_SOFTWARE, EX_CANTCREAT, EX_IOERR, EX_PROTOCOL = 64, 65, 66, 70, 73, 74, 76
EXIT = {
    "no_device": EX_IOERR, "more_than_one": EX_IOERR, "more_than_one_after_detach": EX_IOERR,
    "cannot_open_device": EX_IOERR, "cannot_open_dfu_device": EX_IOERR, "lost_device": EX_IOERR,
    "not_dfu_mode": EX_PROTOCOL, "cannot_claim": EX_IOERR, "cannot_claim_runtime": EX_IOERR,
    "cannot_set_alt": EX_IOERR, "cannot_set_alt_zero": EX_IOERR, "runtime_get_status": EX_IOERR,
    "reset_after_detach": EX_IOERR, "transfer_size_required": EX_USAGE, "file_id_mismatch": EX_USAGE,
    "cannot_read_file": EX_NOINPUT, "cannot_write_file": EX_CANTCREAT, "unsupported_length": EX_DATAERR,
    "invalid_length": EX_DATAERR, "address": EX_USAGE, "modifier": EX_USAGE, "layout_upload": EX_IOERR,
    "layout_download": EX_IOERR, "dfuse_file_raw": EX_USAGE, "not_dfuse_file": EX_USAGE, "too_small": EX_DATAERR,
    "bad_signature": EX_DATAERR, "bad_revision": EX_DATAERR, "bad_target": EX_DATAERR,
    "element_too_big": EX_DATAERR, "corrupt": EX_NOINPUT, "get_status": EX_IOERR, "clear_status": EX_IOERR,
    "abort": EX_IOERR, "usb_communication": EX_IOERR, "still_runtime": EX_PROTOCOL, "status_not_ok": EX_PROTOCOL,
    "special_download": EX_IOERR, "special_get_status": EX_IOERR, "wrong_state": EX_PROTOCOL,
    "not_executed": EX_IOERR, "device_stuck": EX_IOERR, "cannot_erase": EX_USAGE,
    "last_page_not_writeable": EX_USAGE, "page_not_writeable": EX_USAGE, "page_not_readable": EX_USAGE,
    "dfuse_download": EX_IOERR, "dfuse_upload": EX_IOERR, "download_get_status": EX_IOERR,
    "whole_chunk": EX_IOERR, "abort_request": EX_IOERR, "abort_get_status": EX_IOERR,
    "abort_not_idle": EX_IOERR, "mass_erase_needs_force": EX_USAGE, "unprotect_needs_force": EX_USAGE,
    "dfu_download": EX_IOERR, "dfu_download_status": EX_IOERR, "dfu_download_failed": EX_IOERR,
    "completion_packet": EX_IOERR, "dfu_upload": EX_IOERR, "too_many_bytes": EX_SOFTWARE,
    "upload_size_mismatch": EX_SOFTWARE, "software": EX_SOFTWARE, "libusb_init": EX_IOERR,
}

_OLD_USAGE = ("transfer_size_required", "file_id_mismatch", "address", "modifier", "dfuse_file_raw",
              "not_dfuse_file", "cannot_erase", "last_page_not_writeable", "page_not_writeable",
              "page_not_readable", "mass_erase_needs_force", "unprotect_needs_force", "cannot_read_file",
              "cannot_write_file", "unsupported_length", "invalid_length", "too_small", "bad_signature",
              "bad_revision", "bad_target", "element_too_big", "corrupt", "still_runtime", "wrong_state")

# What changes going from one release to the one before it (applied newest to oldest).
_CHANGES = {
    "0.10": dict(
        messages={
            "suffix_future": ("warn", "A valid DFU suffix will be required in a future dfu-util release!!!"),
            "probe_cannot_open": ("warn", "Cannot open DFU device {vid:04x}:{pid:04x}"),
            "multiple_alt_dfuse": None,
            "device_id": ("out", "ID {vid:04x}:{pid:04x}"),
            "dfu_version_runtime": ("out", "Run-time device DFU version {version:04x}"),
            "dfu_version_dfu": ("out", "Run-time device DFU version {version:04x}"),
            "attributes": None, "detach_timeout": None,
            "claiming_runtime": ("out", "Claiming USB DFU Runtime Interface..."),
            "set_alt_zero": None,
            "runtime_determining": None,
            "runtime_status": ("out", "Determining device status: state = {state_name}, status = {status}"),
            "really_runtime": ("out", "Device really in Runtime Mode, send DFU detach request..."),
            "already_dfu": ("warn", "WARNING: Runtime device already in DFU state ?!?"),
            "set_alt": ("out", "Setting Alternate Setting #{alt} ..."),
            "determining_status": None,
            "status": ("out", "Determining device status: state = {state_name}, status = {status}"),
            "status_idle": ("out", "dfuIDLE, continuing"),
            "clearing_status": ("out", "dfuERROR, clearing status"),
            "aborting_transfer": ("out", "aborting previous incomplete transfer"),
            "block_failed": ("out", " failed!\n" + _STATE_OLD),
            "manifest_status": ("out", _STATE_OLD),
            "final_reset": ("out", "Resetting USB to switch back to runtime mode"),
            "leave_request": None,
            "command_state": ("err", _STATE_OLD),
            "chunk_failed": ("err+err", " failed!", _STATE_OLD),
            "dfuse_images": ("out", "file contains {count} DFU images"),
            "dfuse_notice": ("out", "Please note that the next version of dfu-util will automatically\n"
                                    "set alternate interfaces based on the DfuSe file images!"),
            "dfuse_image": ("out", "parsing DFU image {index}"),
            "image_alt": ("out", "image for alternate setting {alt}, ({count} elements, total size = {size})"),
            "image_set_alt": None, "image_no_alt": None,
            "image_alt_mismatch": ("out", "Warning: Image does not match current alternate setting.\n"
                                          "Please rerun with the correct -a option setting to download this image!"),
            "dfuse_element": ("out", "parsing element {index}, address = 0x{address:08x}, size = {size}"),
        },
        errors={
            "cannot_set_alt_zero": [("warn", "Cannot set alt interface zero: {error}")],
            "still_runtime": [("warn", "Device still in Runtime Mode!")],
            "layout_download": [("warn", "Failed to parse memory layout")],
        },
        exits=dict({k: EX_IOERR for k in _OLD_USAGE}, status_not_ok=EX_SOFTWARE, not_dfu_mode=EX_SOFTWARE,
                   dfu_download=0, dfu_download_failed=0, dfu_upload=1, dfuse_upload=1),
        features=dict(multi_alt_dfuse_file=False, manifest_reset_code_fails=False),
        behaviour=Behaviour(mass_erase_timeout_fix=True),
    ),
    "0.9": dict(
        messages={
            "suffix_missing": ("warn", "{reason}"),
            "probe_langid_failed": None, "probe_langid_broken": None, "probe_string_failed": None,
            "probe_string_short": None, "probe_string_malformed": None, "probe_string_patched": None,
            "waiting": None,
            "dfuse_on_plain": None,
            "transfer_override": None,
            "manifest_wait_reset": None,
            "received_total": ("out", "Received a total of {total} bytes", 1),
            "downloading_element": ("out", "Downloading to address = 0x{address:08x}, size = {size}"),
            "erase_page": ("out", "Erasing page size {page_size} at address 0x{address:08x}, page starting at "
                                  "0x{page_start:08x}", 2),
            "chunk": ("out", " Download from image offset {offset:08x} to memory {start:08x}-{end:08x}, size {size}",
                      1),
            "poll_timeout": ("out", "   Poll timeout {ms} ms", 1),
            "set_address": ("out", "  Setting address pointer to 0x{address:08x}", 3),
            "chunk_extends": ("out", " Chunk extends into next page, erase it as well", 3),
            "dfu_poll_timeout": None,
            "command_state": ("out", _STATE_OLD),
            "chunk_failed": ("out+out", " failed!", _STATE_OLD),
            "unbound_upload": None,
            "upload_limit": None,
            "dfuse_notice": None,
            "target_name": None, "no_target_name": None,
            "dfuse_done": ("out", "done parsing DfuSe file"),
            "upload_error": ("warn", "Error during upload"),
            "completion_status_unreadable": ("warn", "unable to read DFU status after completion"),
            "final_reset_failed": ("warn", "error resetting after download"),
        },
        errors={
            "cannot_open_device": [("warn", "Cannot open device")],
            "cannot_claim": [("warn", "Cannot claim interface")],
            "cannot_claim_runtime": [("warn", "Cannot claim interface {intf}")],
            "cannot_set_alt": [("warn", "Cannot set alternate interface")],
            "cannot_set_alt_zero": [("warn", "Cannot set alt interface zero")],
            "get_status": [("warn", "error get_status")],
            "runtime_get_status": [("warn", "error get_status")],
            "dfuse_download": [("warn", "dfuse_download: libusb_control_transfer returned {0}")],
            "special_download": [("warn", "dfuse_download: libusb_control_transfer returned {1}")],
            "dfuse_upload": [("warn", "dfuse_upload: libusb_control_msg returned {0}")],
            "dfu_download": [("warn", "Error during download")],
            "dfu_download_status": [("warn", "Error during download get_status")],
            "completion_packet": [("warn", "Error sending completion packet")],
            "upload_size_mismatch": [("warn", "Unexpected number of bytes uploaded from device")],
        },
        exits=dict(dfuse_upload=EX_IOERR),
        features=dict(upload_size_check_fatal=True, will_reset=False, zero_address_absent=True,
                      t_skips_descriptor=True, reset_after_manifest=False,
                      # dfu_load.c dfuload_do_upload 0.8/0.9: the last repaint is (total, total) even after
                      # an error, and "Received a total" follows "Failed." (with -v)
                      upload_end_bar_full=True, upload_total_after_failed=True),
        behaviour=Behaviour(two_pass_erase=False, force_skips_checks=False, leave_always_sets_address=True,
                            stall_retries=0, stuck_after_zero_polls=None, mass_erase_timeout_fix=True),
    ),
    "0.8": dict(
        messages={
            "list_entry": ("out", 'Found {kind}: [{vid:04x}:{pid:04x}] ver={bcd:04x}, devnum={devnum}, cfg={cfg}, '
                                  'intf={intf}, alt={alt}, name="{name}", serial="{serial}"'),
            "mass_erase_timeout": None,
        },
        errors={},
        exits={},
        features=dict(alt_matches_index=True),
        behaviour=Behaviour(two_pass_erase=False, force_skips_checks=False, leave_always_sets_address=True,
                            stall_retries=0, stuck_after_zero_polls=None, mass_erase_timeout_fix=False),
    ),
}

_FEATURES_011 = dict(multi_alt_dfuse_file=True, upload_size_check_fatal=False, will_reset=True,
                     upload_end_bar_full=False, upload_total_after_failed=False,
                     zero_address_absent=False, t_skips_descriptor=False, reset_after_manifest=True,
                     alt_matches_index=False,
                     utf8_strings=True, libusb_version_line=True, manifest_reset_code_fails=True,
                     lpc_dfu_mode=True, jabra_dfu_mode=True)
_FEATURE_CHANGES = {"0.9": dict(utf8_strings=False, libusb_version_line=False, jabra_dfu_mode=False),
                    "0.8": dict(lpc_dfu_mode=False)}

BANNER_COPYRIGHT_YEARS = {"0.8": "2014", "0.9": "2016", "0.10": "2020", "0.11": "2021"}


@dataclass
class Personality:
    version: str
    messages: dict
    errors: dict
    exits: dict
    features: dict
    behaviour: Behaviour = field(default_factory=Behaviour)

    def feature(self, name: str):
        return self.features[name]

    @property
    def dfuse_modifiers(self) -> tuple:
        mods = ("force", "leave", "unprotect", "mass-erase")
        return mods + (("will-reset",) if self.features["will_reset"] else ())


def personality(version: str) -> Personality:
    if version not in VERSIONS:
        raise ValueError(f"unknown dfu-util version {version!r}")
    messages, errors, exits = dict(MESSAGES), dict(ERRORS), dict(EXIT)
    features = dict(_FEATURES_011)
    behaviour = Behaviour()
    for older in ("0.10", "0.9", "0.8"):
        if VERSIONS.index(version) > VERSIONS.index(older):
            break
        change = _CHANGES[older]
        messages.update(change["messages"])
        errors.update(change["errors"])
        exits.update(change["exits"])
        features.update(change["features"])
        features.update(_FEATURE_CHANGES.get(older, {}))
        behaviour = change["behaviour"]
    return Personality(version, messages, errors, exits, features, behaviour)
