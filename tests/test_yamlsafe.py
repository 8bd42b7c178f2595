"""Option files read as data: no YAML anchors or aliases (billion laughs), bounded size and depth."""

from __future__ import annotations

import time

import pytest

from custseg.exceptions import ConfigError
from custseg.io.yamlsafe import MAX_OPTION_FILE_BYTES, parse_data, read_option_text

#: The classic "billion laughs": 9**9 strings from a few hundred bytes once aliases expand.
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
) + "\n"


def test_billion_laughs_is_refused_in_milliseconds(tmp_path):
    path = tmp_path / "names.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"anchors \(&name, \*name\) are not allowed \(line 1"):
        parse_data(read_option_text(path, "names file", "--names"), path, "names file")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("text", "message"), [
    ("0: &x VIPs\n1: *x\n", "YAML anchors"),
    ("0: *undefined\n", "YAML aliases"),
    ("0: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    ("0: [unclosed\n", "is not valid YAML"),
])
def test_unsafe_or_broken_yaml_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_data(text, tmp_path / "n.yaml", "names file")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("{", "is not valid JSON"),
])
def test_broken_json_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_data(text, tmp_path / "n.json", "names file", as_json=True)


def test_plain_yaml_still_reads(tmp_path):
    assert parse_data("0: VIPs\n'1': {name: Bargain hunters}\n", tmp_path / "n.yaml", "names file") \
        == {0: "VIPs", "1": {"name": "Bargain hunters"}}


@pytest.mark.parametrize(("content", "message"), [
    (b"0: x\n" * (MAX_OPTION_FILE_BYTES // 5 + 1), "larger than 1 MiB"),
    (b"0: \xff\xfe\n", "is not UTF-8 text"),
])
def test_oversized_or_binary_files_are_refused_unparsed(tmp_path, content, message):
    path = tmp_path / "names.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        read_option_text(path, "names file", "--names")


def test_missing_file_names_the_option(tmp_path):
    with pytest.raises(ConfigError, match=r"Cannot read names file .* Check the --names path"):
        read_option_text(tmp_path / "absent.yaml", "names file", "--names")
