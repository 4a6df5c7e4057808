"""Parsers of outside input in the cloud layer: particle-cli config files and API answers."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from particle_py.cloud.api import ApiClient
from particle_py.cloud.errors import ApiError
from particle_py.cloud.config import DEFAULT_API_URL, Settings
from particle_py.errors import ParticlePyError

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(profile=st.binary(max_size=80) | _json.map(lambda v: json.dumps(v).encode()),
       config=st.binary(max_size=120) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_config_file_contents_load_or_give_our_error(tmp_path_factory, profile, config):
    import os
    home = tmp_path_factory.mktemp("h")
    (home / ".particle").mkdir()
    (home / ".particle" / "profile.json").write_bytes(profile)
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        s = Settings()
        (home / ".particle" / f"{s.profile}.config.json").write_bytes(config)
        s = Settings()
        assert isinstance(s.api_url, str) and s.api_url
        assert s.access_token is None or isinstance(s.access_token, str)
    except ParticlePyError as err:
        assert err.message.startswith(("Error parsing file", "Error reading file"))
    finally:
        os.environ["HOME"] = old


def test_defaults_without_any_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings()
    assert (s.profile, s.api_url, s.access_token) == ("particle", DEFAULT_API_URL, None)


@given(st.integers(400, 599), st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_error_answer_becomes_an_api_error_with_a_message(status, raw):
    err = ApiClient._http_error(status, ApiClient._json(raw))
    assert isinstance(err, ApiError) and err.message and err.exit_code == 1


def test_error_answers_map_to_particle_cli_messages():
    assert ApiClient._http_error(401, {}).message == "Your access token is invalid or has expired."
    assert ApiClient._http_error(400, {"error": "invalid_token"}).hint == "Run particle login to log in again."
    assert ApiClient._http_error(403, {}).message == "Permission Denied"
    assert ApiClient._http_error(404, {"errors": ["device not found"]}).message == "device not found"
    assert ApiClient._http_error(500, {}).message == "The Particle cloud answered HTTP 500"


def _serve(answer):
    """A loopback server whose every answer is ``answer(handler)``; returns (url, stop)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            answer(self)

        do_POST = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop():
        server.shutdown()
        server.server_close()
    return f"http://127.0.0.1:{server.server_address[1]}", stop


def _reply(status, data, kind="text/html"):
    def answer(h):
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return answer


def _raw(data):
    def answer(h):
        h.wfile.write(data)
        h.close_connection = True
    return answer



@pytest.mark.parametrize("answer,message", [
    (_reply(502, b"<html><h1>502 Bad Gateway</h1></html>"), "answered HTTP 502 without a JSON body"),
    (_reply(200, b"\x00{\"ok\": tr\xff", "application/json"), "which is not JSON"),
    (_raw(b""), "Could not reach the Particle cloud at"),
    (_raw(b"garbage status line\r\n\r\n"), "Could not reach the Particle cloud at"),
])
def test_broken_answers_become_api_errors(answer, message):
    url, stop = _serve(answer)
    try:
        with pytest.raises(ApiError) as caught:
            ApiClient(url, "t" * 40, timeout=10).provision_key("0" * 24, "-----BEGIN PUBLIC KEY-----", "rsa")
        assert message in caught.value.message and caught.value.hint
    finally:
        stop()


# --- the cloud layer's own parsers (issue 11) ----------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(1, 300))
def test_printable_never_lets_a_control_character_through(text, limit):
    from particle_py.cloud.http import printable
    shown = printable(text, limit)
    assert len(shown) <= 4 * limit + 3
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c in "\u202e\u2028\u200f" for c in shown)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet="[]{}\",:0 \\", max_size=400).map(str.encode))
def test_parse_json_returns_or_raises_value_error_only(raw):
    from particle_py.cloud.http import parse_json
    try:
        parse_json(raw)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.builds(lambda s, h: f"{s}://{h}", st.sampled_from(["http", "https", "ftp", ""]),
                                        st.text(max_size=40)))
def test_any_api_url_is_accepted_or_refused_with_the_config_named(url):
    from particle_py.cloud.http import check_api_url
    try:
        assert check_api_url(url, "CONFIG") == url
    except ParticlePyError as err:
        assert "CONFIG" in err.message + (err.hint or "")
        assert not any(ord(c) < 32 for c in err.message)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from([301, 302, 303, 307, 308]))
def test_any_location_is_followed_only_to_the_same_origin(location, status):
    from particle_py.cloud.http import CloudReplyError, _next_hop, origin
    start = origin("https://api.example.com/v1/user")
    try:
        target, method, data = _next_hop("https://api.example.com/v1/user", status, location, "POST", b"x", start,
                                         "CONFIG")
    except CloudReplyError as err:
        assert err.hint and not any(ord(c) < 32 for c in err.message)
    else:
        assert origin(target) == start
