"""Particle's USB control requests as data: the service requests of the exchange, the request
numbers, the result codes with Device OS's words for them, and the device modes.

Read by the client (``particle_py.control``) and the simulator (``particle_py.sim``) alike, as
``platforms.py`` is; stdlib only, no behaviour. Sources: Device OS system/inc/system_control.h
(request types), services/inc/system_error.h (results), particle-usb usb-protocol.js and
request.js (the exchange), device-os-protobuf control/common.proto (DeviceMode).
"""
from __future__ import annotations

# --- the exchange: vendor control transfers (particle-usb usb-protocol.js) -----------------
HOST_TO_DEVICE = 0x40
DEVICE_TO_HOST = 0xC0
SERVICE_INIT, SERVICE_CHECK, SERVICE_SEND, SERVICE_RECV, SERVICE_RESET = 1, 2, 3, 4, 5
# fields of a service reply: u32 field flags, u16 status[, u16 id][, u32 size][, i32 result]
FIELD_STATUS, FIELD_ID, FIELD_SIZE, FIELD_RESULT = 0x01, 0x02, 0x04, 0x08
STATUS_OK, STATUS_ERROR, STATUS_PENDING, STATUS_BUSY, STATUS_NO_MEMORY, STATUS_NOT_FOUND = range(6)
STATUS_NAMES = {0: "OK", 1: "ERROR", 2: "PENDING", 3: "BUSY", 4: "NO_MEMORY", 5: "NOT_FOUND"}

# The firmware version is a legacy request: bRequest 'P', wIndex 30, reply a C string.
LEGACY_BREQUEST = 0x50
LEGACY_GET_SYSTEM_VERSION = 30

# --- request types (ctrl_request_type), one block per family -------------------------------
# device: ids, restarts, modes
GET_DEVICE_ID = 20
GET_SERIAL_NUMBER = 21
RESET = 40
FACTORY_RESET = 41
DFU_MODE = 50
SAFE_MODE = 60
START_LISTENING = 70
STOP_LISTENING = 71
GET_DEVICE_MODE = 72
SET_DEVICE_SETUP_DONE = 73       # control/config.proto SetDeviceSetupDoneRequest {bool done = 1}
IS_DEVICE_SETUP_DONE = 74
# module info (control/storage.proto)
GET_MODULE_INFO = 90
# firmware update (control/storage.proto)
START_FIRMWARE_UPDATE = 250
FINISH_FIRMWARE_UPDATE = 251
CANCEL_FIRMWARE_UPDATE = 252
FIRMWARE_UPDATE_DATA = 253
# network (control/network.proto, control/cellular.proto)
NETWORK_GET_INTERFACE_LIST = 400
NETWORK_GET_INTERFACE = 401
CELLULAR_GET_ICCID = 554
# wifi: the credentials Device OS keeps in /sys/wifi_config.bin (control/wifi_new.proto,
# system/src/control/wifi_new.cpp; Gen3/Gen4 Wi-Fi platforms)
WIFI_JOIN_NEW_NETWORK = 500
WIFI_JOIN_KNOWN_NETWORK = 501
WIFI_GET_KNOWN_NETWORKS = 502
WIFI_REMOVE_KNOWN_NETWORK = 503
WIFI_CLEAR_KNOWN_NETWORKS = 504
WIFI_GET_CURRENT_NETWORK = 505
WIFI_SCAN_NETWORKS = 506
WIFI_SET_NETWORK_CREDENTIALS = 507      # 5.8.2, 5.9.0 and 6.2.0 on (not 6.0.x, 6.1.x)
# system_error.h's numbers for the results the Wi-Fi requests give (RESULT_NOT_FOUND above is
# -110, which Device OS calls BUSY)
WIFI_RESULT_UNKNOWN = -100
WIFI_RESULT_TIMEOUT = -160
WIFI_RESULT_NOT_FOUND = -170

# application: the user firmware's own handler (ctrl_request_custom_handler), any payload
APP_CUSTOM = 10
# cloud (control/cloud.proto): GetConnectionStatusReply {ConnectionStatus status = 1}
CLOUD_GET_CONNECTION_STATUS = 300
CLOUD_STATUS_NAMES = {0: "DISCONNECTED", 1: "CONNECTING", 2: "CONNECTED", 3: "DISCONNECTING"}
# env variables (control/config.proto, Device OS 6.4+): GetEnvReply {repeated Var vars = 1}
ENV_GET = 600
ENV_CLEAR = 601

# The requests after which the device restarts (its reply may be cut by the reset).
RESTARTING = frozenset({RESET, FACTORY_RESET, DFU_MODE, SAFE_MODE, FINISH_FIRMWARE_UPDATE})

# --- results (system_error.h) ---------------------------------------------------------------
RESULT_OK = 0
RESULT_NOT_FOUND = -110
RESULT_NOT_SUPPORTED = -120
RESULT_NOT_ALLOWED = -130
RESULT_TOO_LARGE = -190
RESULT_INVALID_STATE = -210
RESULT_INVALID_ARGUMENT = -270
RESULT_INVALID_FORMAT = -280
OTA_MODULE_NOT_FOUND = -1300
OTA_UNSUPPORTED_MODULE = -1310
OTA_VALIDATION_FAILED = -1320
OTA_INTEGRITY_CHECK_FAILED = -1330
OTA_DEPENDENCY_CHECK_FAILED = -1340
OTA_INVALID_ADDRESS = -1350
OTA_INVALID_SIZE = -1351
OTA_INVALID_PLATFORM = -1360
OTA_INVALID_FORMAT = -1370
OTA_UPDATES_DISABLED = -1380
OTA_ERROR = -1390

# Device OS's own words for the results the client reports (particle-usb result.js).
RESULT_TEXT = {
    RESULT_NOT_SUPPORTED: "Not supported", RESULT_NOT_ALLOWED: "Not allowed",
    RESULT_TOO_LARGE: "Data is too large", RESULT_INVALID_STATE: "Invalid state",
    RESULT_INVALID_ARGUMENT: "Invalid argument", RESULT_INVALID_FORMAT: "Invalid data format",
    OTA_MODULE_NOT_FOUND: "Module not found", OTA_UNSUPPORTED_MODULE: "Unsupported module",
    OTA_VALIDATION_FAILED: "Module validation failed", OTA_INTEGRITY_CHECK_FAILED: "Module integrity check failed",
    OTA_DEPENDENCY_CHECK_FAILED: "Module dependency check failed", OTA_INVALID_ADDRESS: "Invalid module address",
    OTA_INVALID_SIZE: "Invalid module size", OTA_INVALID_PLATFORM: "Invalid module platform",
    OTA_INVALID_FORMAT: "Invalid module format", OTA_UPDATES_DISABLED: "Firmware updates are disabled",
    OTA_ERROR: "Firmware update error",
}

# --- device modes (control/common.proto DeviceMode, GET_DEVICE_MODE's field 1) ---------------
MODE_NORMAL, MODE_LISTENING, MODE_SAFE, MODE_DFU = 0, 1, 2, 3
DEVICE_MODES = {MODE_NORMAL: "NORMAL", MODE_LISTENING: "LISTENING", MODE_SAFE: "SAFE", MODE_DFU: "DFU"}
