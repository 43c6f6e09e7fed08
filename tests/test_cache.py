"""e3d.cache: a cached result is reused only for byte-identical inputs."""

import pandas as pd

from e3d.cache import content_key, load_tables, save_tables


def test_the_key_follows_the_bytes_and_the_settings_not_the_file_name(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"model weights")
    b.write_bytes(b"model weights")
    key = content_key([str(a)], [("ethanol", "CCO")], 21)
    assert content_key([str(b)], [("ethanol", "CCO")], 21) == key  # same content, another name
    assert content_key([str(a)], [("ethanol", "CCO")], 22) != key  # a setting
    b.write_bytes(b"model weightS")
    assert content_key([str(b)], [("ethanol", "CCO")], 21) != key  # one byte
    assert content_key([str(tmp_path / "absent.bin")]) != content_key([None])  # an absent file is named


def test_tables_are_read_back_only_when_all_are_there(tmp_path):
    tables = {"out": pd.DataFrame([{"n": 3, "mae": 1.5, "note": None}]), "pairs": pd.DataFrame({"i": [0, 1]})}
    save_tables(str(tmp_path / "k"), tables)
    back = load_tables(str(tmp_path / "k"), ("out", "pairs"))
    for name, df in tables.items():
        pd.testing.assert_frame_equal(back[name], df)
    assert load_tables(str(tmp_path / "k"), ("out", "pairs", "bde")) is None
    assert not list((tmp_path / "k").glob("*.tmp"))
