"""Reading a batch's summary table, for the tests of commands run on many devices."""


def summary_rows(out: str, ids: list) -> dict:
    """device id -> its summary row (the table's rows start with the device id)."""
    rows = {}
    for line in out.splitlines():
        for device_id in ids:
            if line.startswith(device_id + " "):
                rows[device_id] = line
    return rows
