"""The DTLS parsers take whatever the network sends: arbitrary bytes end in a value or in
DtlsParseError, never another exception and never a hang; what they accept, they read right."""
from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from particle_py.handshake import dtls

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PARSERS = [dtls.parse_records, dtls.parse_handshake_fragments, dtls.parse_hello_verify_request,
           dtls.parse_server_hello, dtls.parse_server_key_exchange, dtls.parse_certificate_request,
           dtls.parse_certificate, dtls.parse_coap_header, dtls._alert_text]


@pytest.mark.parametrize("parse", PARSERS, ids=[p.__name__ for p in PARSERS])
@FAST
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_our_parse_error(parse, data):
    try:
        parse(data)
    except dtls.DtlsParseError:
        pass


def record_header(content_type, version, epoch, seq, length):
    return bytes([content_type]) + version + struct.pack(">H", epoch) + seq.to_bytes(6, "big") + struct.pack(">H", length)


records = st.lists(st.tuples(st.sampled_from(dtls.CONTENT_TYPES), st.sampled_from(dtls.RECORD_VERSIONS),
                             st.integers(0, 0xFFFF), st.integers(0, 2**48 - 1), st.binary(max_size=300)),
                   max_size=5)


@FAST
@given(records=records, cut=st.integers(1, 40))
def test_records_are_read_back_and_a_cut_datagram_is_refused(records, cut):
    datagram = b"".join(record_header(t, v, e, s, len(f)) + f for t, v, e, s, f in records)
    assert dtls.parse_records(datagram) == [dtls.Record(t, v, e, s, f) for t, v, e, s, f in records]
    if records:
        cut = 1 + cut % (dtls.RECORD_HEADER + len(records[-1][4]) - 1)      # inside the last record
        with pytest.raises(dtls.DtlsParseError):
            dtls.parse_records(datagram[:len(datagram) - cut])


@FAST
@given(data=st.binary(max_size=200), version=st.binary(min_size=2, max_size=2))
def test_a_record_of_another_version_is_refused(data, version):
    datagram = record_header(dtls.HANDSHAKE, version, 0, 0, len(data)) + data
    if version in dtls.RECORD_VERSIONS:
        assert dtls.parse_records(datagram)[0].fragment == data
    else:
        with pytest.raises(dtls.DtlsParseError, match="is not DTLS 1.2"):
            dtls.parse_records(datagram)


messages = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=400)), min_size=1, max_size=6)


def fragments_of(messages, rnd):
    """Every message cut into random pieces (some overlapping), shuffled, some repeated."""
    out = []
    for seq, (msg_type, body) in enumerate(messages):
        cuts = sorted({0, len(body), *(rnd.randrange(len(body) + 1) for _ in range(3))})
        for a, b in zip(cuts, cuts[1:]):
            a = max(0, a - rnd.randrange(3))                     # overlap a little
            out.append(dtls.Fragment(msg_type, len(body), seq, a, body[a:b]))
        if not body:
            out.append(dtls.Fragment(msg_type, 0, seq, 0, b""))
    out += rnd.sample(out, len(out) // 3)
    rnd.shuffle(out)
    return out


def fragment_bytes(f):
    return (bytes([f.msg_type]) + f.length.to_bytes(3, "big") + struct.pack(">H", f.message_seq)
            + f.offset.to_bytes(3, "big") + len(f.body).to_bytes(3, "big") + f.body)


@FAST
@given(messages=messages, seed=st.integers(0, 2**32))
def test_reordered_repeated_overlapping_fragments_reassemble_in_order(messages, seed):
    fragments = fragments_of(messages, random.Random(seed))
    parsed = dtls.parse_handshake_fragments(b"".join(fragment_bytes(f) for f in fragments))
    assert parsed == fragments
    reassembler = dtls.Reassembler()
    got = []
    for f in parsed:
        reassembler.add(f)
        while (m := reassembler.pop()) is not None:
            got.append(m)
    assert got == [(seq, t, body) for seq, (t, body) in enumerate(messages)]
    # anything of a message already handed out is the peer's retransmission
    assert all(reassembler.add(f) is False for f in parsed)


@FAST
@given(frags=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 40), st.integers(0, 40),
                                st.binary(max_size=40)), max_size=30))
def test_the_reassembler_takes_any_fragments_without_crashing(frags):
    reassembler = dtls.Reassembler()
    for msg_type, seq, length, offset, body in frags:
        if offset + len(body) > length:
            continue                     # parse_handshake_fragments refuses these already
        try:
            reassembler.add(dtls.Fragment(msg_type, length, seq, offset, body))
        except dtls.DtlsParseError:
            continue
        while (m := reassembler.pop()) is not None:
            assert len(m[2]) == length or m[0] != seq


def test_a_fragment_past_its_message_or_a_huge_message_is_refused():
    with pytest.raises(dtls.DtlsParseError, match="runs past its message"):
        dtls.parse_handshake_fragments(fragment_bytes(dtls.Fragment(2, 4, 0, 2, b"abc")))
    with pytest.raises(dtls.DtlsParseError, match="too long"):
        dtls.parse_handshake_fragments(fragment_bytes(dtls.Fragment(2, 1 << 20, 0, 0, b"a")))


def test_the_tls12_prf_with_sha256_matches_the_published_vector():
    # the TLS 1.2 PRF (SHA-256) test vector circulated on the IETF TLS list (2009)
    out = dtls.prf(bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                   bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")


@FAST
@given(plaintext=st.binary(max_size=200), cid=st.binary(min_size=1, max_size=8), seq=st.integers(0, 2**48 - 1),
       content_type=st.sampled_from([dtls.HANDSHAKE, dtls.APPLICATION_DATA, dtls.ALERT]))
def test_a_record_to_a_server_with_a_connection_id_is_framed_as_mbedtls_does(plaintext, cid, seq, content_type):
    # draft-ietf-tls-dtls-connection-id-05 as mbedTLS 2.x implements it: header type 25, the CID
    # after the sequence number, the inner plaintext (content, real type), and the additional data
    # seq_num + 25 + version + cid + cid_length + length of the inner plaintext
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
    key, salt = bytes(range(16)), b"salt"
    sealed = dtls.RecordProtection(key, salt).seal(content_type, 1, seq, plaintext, cid)
    explicit = struct.pack(">H", 1) + seq.to_bytes(6, "big")
    assert sealed[:11] == bytes([25]) + b"\xfe\xfd" + explicit
    assert sealed[11:11 + len(cid)] == cid
    length = int.from_bytes(sealed[11 + len(cid):13 + len(cid)], "big")
    body = sealed[13 + len(cid):]
    assert len(body) == length and body[:8] == explicit
    inner_len = length - 8 - 8
    aad = explicit + bytes([25]) + b"\xfe\xfd" + cid + bytes([len(cid)]) + struct.pack(">H", inner_len)
    assert AESCCM(key, tag_length=8).decrypt(salt + explicit, body[8:], aad) == plaintext + bytes([content_type])


@FAST
@given(plaintext=st.binary(max_size=200), seq=st.integers(0, 2**48 - 1), flip=st.integers(0, 10**6))
def test_protected_records_open_and_any_changed_byte_is_refused(plaintext, seq, flip):
    protection = dtls.RecordProtection(bytes(16), b"\0\0\0\1")
    sealed = protection.seal(dtls.APPLICATION_DATA, 1, seq, plaintext)
    rec = dtls.parse_records(sealed)[0]
    assert protection.open(rec) == plaintext
    damaged = bytearray(sealed)
    damaged[3 + flip % (len(sealed) - 3)] ^= 1 << (flip % 8)      # epoch, seq, length or payload
    try:
        again = dtls.parse_records(bytes(damaged))
    except dtls.DtlsParseError:
        return
    with pytest.raises(dtls.DtlsParseError):
        assert len(again) == 1
        protection.open(again[0])


def test_the_hello_and_goodbye_are_what_device_os_sends():
    device_id = bytes.fromhex("e00fce681f2b3c4d5e6f7a8b")
    hello = dtls.coap_hello(0x1234, device_id)
    assert hello == (bytes.fromhex("40021234b168ff") + bytes.fromhex("ffff ffff 0016 0000 00 0c") + device_id
                     + bytes.fromhex("0000 0400 00000000 0200"))
    assert dtls.coap_goodbye(0x1235) == bytes.fromhex("40021235b178ff0102")
    assert dtls.parse_coap_header(hello) == dtls.CoapHeader(dtls.COAP_CON, dtls.COAP_POST, 0x1234)
    assert dtls.parse_coap_header(dtls.coap_empty_ack(7)) == dtls.CoapHeader(dtls.COAP_ACK, 0, 7)


datagram_parts = st.lists(st.one_of(
    st.binary(max_size=60),
    st.builds(lambda t, e, s, f: record_header(t, b"\xfe\xfd", e, s, len(f)) + f,
              st.sampled_from(dtls.CONTENT_TYPES), st.integers(0, 2), st.integers(0, 3), st.binary(max_size=60)),
    st.builds(lambda f: record_header(dtls.HANDSHAKE, b"\xfe\xfd", 0, 0, len(f)) + f,
              st.lists(st.builds(fragment_bytes, st.builds(
                  lambda t, q, b: dtls.Fragment(t, len(b), q, 0, b), st.integers(0, 20), st.integers(0, 3),
                  st.binary(max_size=30))), max_size=3).map(b"".join))), max_size=4).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(datagrams=st.lists(datagram_parts, max_size=4), keys_agreed=st.booleans())
def test_the_client_takes_any_datagrams_raising_only_our_parse_error(datagrams, keys_agreed):
    import socket
    import time
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        client = dtls._Client(ours, time.monotonic() + 5, "peer")
        if keys_agreed:                      # as after flight 5: the server's ChangeCipherSpec is due
            client.write_protection = dtls.RecordProtection(bytes(16), bytes(4))
            client.next_read_protection = dtls.RecordProtection(bytes(16), bytes(4))
            client.write_epoch = 1
        for datagram in datagrams:
            theirs.send(datagram)
            try:
                assert client.receive(1.0) is True
            except dtls.DtlsParseError:
                break
            while client.messages.pop() is not None:
                pass
    finally:
        ours.close()
        theirs.close()
