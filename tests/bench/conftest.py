import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """particle-cli config under tmp_path, with the first-flash notice already shown."""
    from helpers.home import isolate_home
    return isolate_home(tmp_path, monkeypatch)
