"""The cloud client against a hostile API (issue 11): redirects, malformed answers, escape
sequences, odd apiUrl values. What is checked: the exit status, what the user reads, the saved
login, and which server saw the token. Every server is on loopback."""
from __future__ import annotations

import json
import os

import pytest

from hostile import HostileApi, self_signed
from particle_py.keys import formats

DEVICE = "e00fce681234567890abcdef"
SAVED = "saved0token0000000000000000000000000000"
NESTED = b"[" * 100000 + b"]" * 100000


def _config(home, api_url, **more):
    (home / ".particle").mkdir(exist_ok=True)
    values = {"apiUrl": api_url, "access_token": SAVED, "username": "alice@example.com", **more}
    (home / ".particle" / "particle.config.json").write_text(json.dumps(values))


def _saved(home):
    return json.loads((home / ".particle" / "particle.config.json").read_text())


def _clean(out, err):
    """Nothing raw from the network: no escape or other control character, no traceback."""
    for text in (out, err):
        assert "Traceback" not in text
        assert not any(ord(c) < 32 and c not in "\n" for c in text), repr(text)


@pytest.fixture
def api(home):
    with HostileApi("127.0.0.1") as server:
        _config(home, server.url)
        yield server


@pytest.fixture
def other():
    """A server on another loopback address: 'another host'."""
    with HostileApi("127.0.0.2") as server:
        yield server


@pytest.fixture
def key_file(home):
    path = home.parent / "work" / "k.pub.pem"
    path.write_bytes(formats.public_pem(formats.generate("ec")))
    return str(path)


def _fresh(api):
    api.on("/v1/access_tokens/current", 200, {"expires_at": "2999-01-01T00:00:00Z"})


# --- redirects --------------------------------------------------------------------------------

def test_a_same_host_redirect_is_followed_with_the_token(api, particle):
    api.redirect("/v1/user", "/v1/user-moved", 307).on("/v1/user-moved", 200, {"username": "alice@example.com"})
    assert particle("whoami") == (0, "alice@example.com\n", "")
    assert api.tokens_seen() == [f"Bearer {SAVED}"] * 2


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_never_gets_the_token(api, other, particle, status):
    other.on("*", 200, {"username": "mallory"})
    api.redirect("/v1/user", other.url + "/v1/user", status)
    code, out, err = particle("whoami")
    assert code == 1 and out == ""
    assert err.startswith(f"The cloud at {api.url}/v1/user redirected to {other.url}/v1/user, another server; "
                          "particle-py sends your token and password only to the configured apiUrl")
    assert other.seen == []
    _clean(out, err)


def test_a_redirect_to_another_port_of_the_same_host_is_another_server(api, home, particle):
    with HostileApi("127.0.0.1") as elsewhere:
        api.redirect("*", elsewhere.url + "/v1/user", 307)
        assert particle("whoami")[0] == 1
        assert elsewhere.seen == []


def test_keys_send_redirected_elsewhere_is_not_a_success(api, other, particle, key_file):
    _fresh(api)
    other.on("*", 200, {"ok": True})
    api.redirect(f"/v1/provisioning/{DEVICE}", other.url + f"/v1/provisioning/{DEVICE}", 307)
    code, out, err = particle("keys", "send", DEVICE, key_file)
    assert code == 1 and "succeeded" not in out
    assert err.startswith(f"Error sending public key to server: The cloud at {api.url}/v1/provisioning/{DEVICE} "
                          f"redirected to {other.url}")
    assert other.seen == []


def test_login_redirected_elsewhere_sends_no_password_and_keeps_the_saved_login(api, other, home, particle):
    other.on("*", 200, {"access_token": "stolen0000000000000000000000000000000000"})
    api.redirect("/oauth/token", other.url + "/oauth/token", 307)
    code, out, err = particle("login", "-u", "alice@example.com", "-p", "secret")
    assert code == 1 and "Successfully" not in out
    assert other.seen == []
    assert _saved(home)["access_token"] == SAVED


def test_https_to_http_redirect_is_refused(tmp_path, home, particle, monkeypatch):
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])
    with HostileApi("127.0.0.1", tls=cert) as secure, HostileApi("127.0.0.1") as plain:
        port = secure.url.rsplit(":", 1)[1]
        secure.redirect("/v1/user", f"http://127.0.0.1:{port}/v1/user", 301)
        plain.on("*", 200, {"username": "mallory"})
        _config(home, secure.url)
        code, out, err = particle("whoami")
        assert code == 1
        assert f"redirected to http://127.0.0.1:{port}/v1/user, another scheme" in err
        assert plain.seen == []
        # the trusted certificate works (SSL_CERT_FILE), so the refusal is about the redirect
        secure.on("/v1/user", 200, {"username": "alice@example.com"})
        assert particle("whoami") == (0, "alice@example.com\n", "")


def test_an_untrusted_certificate_gets_the_certificate_hint(tmp_path, home, particle, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with HostileApi("127.0.0.1", tls=self_signed(tmp_path)) as secure:
        _config(home, secure.url)
        code, out, err = particle("whoami")
    assert code == 1
    assert err.startswith(f"Could not reach the Particle cloud at {secure.url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in err
    assert "company proxy" in err and "Install Certificates.command" in err and "SSL_CERT_FILE" in err


@pytest.mark.parametrize("location", ["http://[::1", "http://127.0.0.1:99999/x", "http://a b/", ""])
def test_a_malformed_or_missing_location_is_an_error(api, particle, location):
    api.on("/v1/user", 302, b"", {"Location": location} if location else {})
    code, out, err = particle("whoami")
    assert code == 1 and out == "" and err.startswith(f"The cloud at {api.url}/v1/user ")
    _clean(out, err)


def test_a_redirect_loop_ends(api, particle):
    api.redirect("/v1/user", "/v1/user", 307)
    code, out, err = particle("whoami")
    assert code == 1 and "redirected more than 5 times" in err
    assert len(api.seen) == 6


# --- login answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("status,body", [
    (200, {"access_token": None}), (200, {"access_token": 5}), (200, {"access_token": ""}),
    (200, {"token_type": "bearer"}), (200, {"access_token": "a b"}), (200, {"access_token": "x\x1b[2J"}),
    (200, []), (200, ""), (200, "null"), (200, b"<html>sign in to the Wi-Fi</html>"),
    (200, NESTED), (200, b"{\"access_token\": \"" + b"a" * (2 << 20) + b"\"}"), (200, b"\xff\xfe"),
    (201, {"access_token": {"nested": "x"}}),
])
def test_login_without_a_usable_token_fails_and_keeps_the_saved_one(api, home, particle, status, body):
    api.on("/oauth/token", status, body)
    code, out, err = particle("login", "-u", "alice@example.com", "-p", "pw")
    assert code == 1 and "Successfully" not in out
    assert f"{api.url}/oauth/token" in err
    assert _saved(home)["access_token"] == SAVED
    _clean(out, err)


def test_login_token_path_checks_the_user_answer(api, home, particle):
    api.on("/v1/user", 200, {"username": None})
    code, out, err = particle("login", "--token", "new0token")
    assert code == 1 and "Successfully" not in out and _saved(home)["access_token"] == SAVED
    api.on("/v1/user", 200, {"username": "bob@example.com"})
    assert particle("login", "--token", "new0token")[:2] == (0, "> Successfully completed login!\n")
    assert _saved(home)["access_token"] == "new0token"


def test_an_escape_sequence_in_an_error_is_shown_escaped(api, home, particle):
    fake = "\x1b[2J\x1b[H> Successfully completed login!\r\n\x07"
    api.on("/oauth/token", 400, {"error": "invalid_grant", "error_description": fake})
    code, out, err = particle("login", "-u", "alice@example.com", "-p", "pw")
    assert code == 1 and out == ""
    assert err.startswith("\\x1b[2J\\x1b[H> Successfully completed login!\\x0d \\x07\n")
    _clean(out, err)
    assert _saved(home)["access_token"] == SAVED


def test_a_username_with_an_escape_sequence_is_not_printed(api, particle):
    api.on("/v1/user", 200, b'{"username": "\x1b]0;pwned\x07alice"}')     # raw ESC, not JSON-escaped
    code, out, err = particle("whoami")
    assert code == 1 and out == ""
    assert '"{"username": "\\x1b]0;pwned\\x07alice"}"' in err
    _clean(out, err)


def test_a_deeply_nested_answer_is_an_error_and_logout_still_forgets_the_token(api, home, particle):
    api.on("*", 200, NESTED)
    code, out, err = particle("whoami")
    assert code == 1 and "which is not JSON (nested more than 32 levels deep)" in err
    assert len(err) < 1000
    code, out, err = particle("logout")
    assert code == 0 and "access_token" not in _saved(home)
    assert "could not be reached to revoke" in out


def test_a_huge_answer_is_refused(api, particle):
    api.on("*", 200, b"{" + b" " * (2 << 20) + b"}")
    code, out, err = particle("whoami")
    assert code == 1 and "larger than 1 MiB" in err


# --- keys send answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("status,body", [
    (200, ""), (200, []), (200, {"ok": "false"}), (200, {"ok": False}), (200, {}), (200, "true"),
    (200, {"ok": True, "error": "nope"}), (200, {"id": "0123456789abcdef01234567"}), (204, ""),
    (200, {"error": "\x1b[31mnope"}), (200, NESTED), (200, b"<html>portal</html>"),
])
def test_keys_send_succeeds_only_on_a_reply_that_says_so(api, particle, key_file, status, body):
    _fresh(api)
    api.on(f"/v1/provisioning/{DEVICE}", status, body)
    code, out, err = particle("keys", "send", DEVICE, key_file)
    assert code == 1 and "succeeded" not in out
    assert err.startswith("Error sending public key to server: ")
    _clean(out, err)


@pytest.mark.parametrize("body", [{"ok": True}, {"id": DEVICE}, {"ok": True, "id": DEVICE}, b"Success!"])
def test_keys_send_documented_successes(api, particle, key_file, body):
    _fresh(api)
    api.on(f"/v1/provisioning/{DEVICE}", 200, body)
    code, out, err = particle("keys", "send", DEVICE, key_file)
    assert (code, err) == (0, "") and out.endswith("submitting public key succeeded!\n")
    assert api.tokens_seen() == [f"Bearer {SAVED}"] * 2


@pytest.mark.parametrize("body", [{"ok": "true"}, [], "", {"ok": True, "errors": ["x"]}])
def test_device_add_succeeds_only_on_a_reply_that_says_so(api, particle, body):
    api.on("/v1/devices", 200, body)
    code, out, err = particle("device", "add", DEVICE)
    assert code == 1 and "Successfully" not in out


# --- apiUrl values --------------------------------------------------------------------------------

@pytest.mark.parametrize("url,text", [
    ("api.particle.io", "is not an http(s) URL"), ("ftp://api.particle.io", "is not an http(s) URL"),
    ("https://", "is not an http(s) URL"), ("https://api.particle.io:99999", "is not a valid URL"),
    ("https://[::1", "is not a valid URL"), (5, "is not a string"),
    ("http://api.example.com", "is plain http"), ("http://192.168.1.20:8080", "is plain http"),
])
def test_a_bad_api_url_names_the_config_file(home, particle, url, text):
    _config(home, url)
    path = home / ".particle" / "particle.config.json"
    for args in (("whoami",), ("login", "-u", "a", "-p", "b"), ("device", "add", DEVICE)):
        code, out, err = particle(*args)
        assert code == 1 and text in err and str(path) in err, (args, err)
        _clean(out, err)
    assert _saved(home)["access_token"] == SAVED


def test_plain_http_needs_the_users_word(home, particle, monkeypatch):
    _config(home, "http://192.0.2.1:9")
    code, out, err = particle("whoami")
    assert "PARTICLE_PY_ALLOW_HTTP=1" in err
    from particle_py.cloud.http import check_api_url
    monkeypatch.setenv("PARTICLE_PY_ALLOW_HTTP", "1")
    assert check_api_url("http://192.0.2.1:9", "x") == "http://192.0.2.1:9"
    for loopback in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        monkeypatch.delenv("PARTICLE_PY_ALLOW_HTTP", raising=False)
        assert check_api_url(loopback, "x") == loopback


def test_the_proxy_variables_are_honoured(api, home, particle, monkeypatch):
    """HTTPS_PROXY/HTTP_PROXY as particle-cli reads them: the request goes to the proxy."""
    with HostileApi("127.0.0.1") as proxy:
        proxy.on("*", 200, {"username": "via-proxy"})
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        _config(home, "http://localhost.localdomain:9")
        monkeypatch.setenv("PARTICLE_PY_ALLOW_HTTP", "1")
        assert particle("whoami") == (0, "via-proxy\n", "")
        assert proxy.seen[0][1] == "http://localhost.localdomain:9/v1/user"
        monkeypatch.setenv("no_proxy", "localhost.localdomain")
        assert particle("whoami")[0] == 1


def test_no_cloud_module_turns_verification_off():
    import pathlib

    import particle_py.cloud as pkg
    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "CERT_NONE" not in text and "check_hostname = False" not in text and "_create_unverified" not in text
    assert os.path.exists(pathlib.Path(pkg.__file__).parent / "http.py")
