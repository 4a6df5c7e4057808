"""Whatever -s string, alt or file a user passes, our dfu-util ends with one of dfu-util's
exit statuses (with a message when it fails), never a traceback."""
from hypothesis import HealthCheck, given, settings, strategies as st

from particle_py.dfu.dfuse_options import ALL_MODIFIERS

words = st.sampled_from(list(ALL_MODIFIERS) + ["0x100", "16", "lea", "", "x"])
addresses = st.sampled_from(["", "0", "0x08000000", "0x08020000", "0x0801FF00", "0x09000000", "34", "010",
                             "0x0800zz", "-1", " 7"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(addresses, st.lists(words, max_size=3), st.sampled_from(["0", "1", "2", "x"]), st.binary(max_size=300),
       st.sampled_from(["0.8", "0.9", "0.10", "0.11"]), st.booleans())
def test_download_never_crashes(sim, tmp_path, address, modifiers, alt, data, version, upload):
    sim.make(["photon"])
    (tmp_path / "work" / "in.bin").write_bytes(data)
    target = tmp_path / "work" / "out.bin"
    target.unlink(missing_ok=True)
    dfuse = ":".join([address] + modifiers)
    args = ["-a", alt, "-s", dfuse] + (["-U", "out.bin"] if upload else ["-D", "in.bin"])
    result = sim.run(*args, version=version)
    assert result.status in (0, 1, 64, 65, 66, 70, 73, 74, 76)     # 1: 0.8-0.10 upload errors
    if result.status:
        assert result.err.strip(), "a failure always says why"
    if upload and result.status == 0:
        assert target.exists()
