"""Conflist parsing as libcni ``NetworkConfFromBytes`` does it (cni-protocol.md §1.3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList

P = [{"type": "bridge"}]


def parse(doc: Any) -> NetworkConfigList:
    return NetworkConfigList.from_bytes(
        json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
    )


VERSIONS = [
    # (cniVersion, cniVersions, chosen)
    ("1.0.0", None, "1.0.0"),
    ("9.9.9", None, "9.9.9"),  # without cniVersions: verbatim, even above 1.1.0
    ("", None, ""),
    (None, None, ""),
    ("0.4.0", ["1.0.0", "0.3.1"], "1.0.0"),
    ("1.1.0", ["0.4.0"], "1.1.0"),
    ("0.3.1", ["1.1.0", "2.0.0", "1.2.0"], "1.1.0"),  # above 1.1.0: dropped
    ("0.3.1", ["2.0.0"], "0.3.1"),
    ("2.0.0", ["2.0.0", "3.0.0"], "2.0.0"),  # nothing usable: cniVersion kept verbatim
    ("3.0.0", ["0.4.0"], "0.4.0"),
    (None, ["0.4.0", "1.0.0", "0.2.0"], "1.0.0"),
    ("0.4.0", [], "0.4.0"),
    ("", [], ""),
]


@pytest.mark.parametrize(("version", "versions", "chosen"), VERSIONS)
def test_version_negotiation(version: str | None, versions: list[str] | None, chosen: str) -> None:
    doc: dict[str, Any] = {"name": "n", "plugins": P}
    if version is not None:
        doc["cniVersion"] = version
    if versions is not None:
        doc["cniVersions"] = versions
    assert parse(doc).cni_version == chosen


ERRORS = [
    ({"plugins": P}, "error parsing configuration list: no name"),
    ({"name": None, "plugins": P}, "error parsing configuration list: invalid name type <nil>"),
    ({"name": 3, "plugins": P}, "error parsing configuration list: invalid name type float64"),
    (
        {"name": "n", "cniVersion": 1, "plugins": P},
        "error parsing configuration list: invalid cniVersion type float64",
    ),
    (
        {"name": "n", "cniVersion": None, "plugins": P},
        "error parsing configuration list: invalid cniVersion type <nil>",
    ),
    (
        {"name": "n", "cniVersions": "1.0.0", "plugins": P},
        "error parsing configuration list: invalid type for cniVersions: []interface {}",
    ),
    (
        {"name": "n", "cniVersions": ["1.0.0", 1], "plugins": P},
        "error parsing configuration list: invalid type for cniVersions index 1: float64",
    ),
    (
        {"name": "n", "cniVersions": ["1.0.0", "x.1"], "plugins": P},
        'error parsing configuration list: invalid cniVersions entry x.1 at index 1: failed to convert major version part "x": strconv.Atoi: parsing "x": invalid syntax',
    ),
    (
        {"name": "n", "cniVersions": ["1.0.0.0"], "plugins": P},
        'error parsing configuration list: invalid cniVersions entry 1.0.0.0 at index 0: invalid version "1.0.0.0": too many parts',
    ),
    (
        {"name": "n", "cniVersion": "abc", "cniVersions": ["1.0.0"], "plugins": P},
        'error parsing configuration list: invalid cniVersion abc: failed to convert major version part "abc": strconv.Atoi: parsing "abc": invalid syntax',
    ),
    (
        {"name": "n", "disableCheck": "Yes", "plugins": P},
        'error parsing configuration list: invalid value "yes" for disableCheck',
    ),
    (
        {"name": "n", "disableGC": 1, "plugins": P},
        "error parsing configuration list: invalid type float64 for disableGC",
    ),
    (
        {"name": "n", "disableCheck": None, "plugins": P},
        "error parsing configuration list: invalid type <nil> for disableCheck",
    ),
    (
        {"name": "n", "loadOnlyInlinedPlugins": "maybe", "plugins": P},
        'error parsing configuration list: invalid value "maybe" for loadOnlyInlinedPlugins',
    ),
    (
        {"name": "n", "loadOnlyInlinedPlugins": True},
        "error parsing configuration list: `loadOnlyInlinedPlugins` is true, and no 'plugins' key",
    ),
    ({"name": "n"}, "no plugin configs found"),
    (
        {"name": "n", "plugins": {}},
        "error parsing configuration list: invalid 'plugins' type map[string]interface {}",
    ),
    ({"name": "n", "plugins": []}, "error parsing configuration list: no plugins in list"),
    (
        {"name": "n", "plugins": [{"type": "a"}, {}]},
        "failed to parse plugin config 1: error parsing configuration: missing 'type'",
    ),
    (
        {"name": "n", "plugins": [{"type": ""}]},
        "failed to parse plugin config 0: error parsing configuration: missing 'type'",
    ),
    (
        {"name": "n", "plugins": [None]},
        "failed to parse plugin config 0: error parsing configuration: missing 'type'",
    ),
    (
        {"name": "n", "plugins": ["x"]},
        "failed to parse plugin config 0: error parsing configuration: json: cannot unmarshal string into Go value of type types.PluginConf",
    ),
    (
        {"name": "n", "plugins": [{"type": 5}]},
        "failed to parse plugin config 0: error parsing configuration: json: cannot unmarshal number into Go struct field PluginConf.type of type string",
    ),
    (
        b"[]",
        "error parsing configuration list: json: cannot unmarshal array into Go value of type map[string]interface {}",
    ),
    (b'{"name":', "error parsing configuration list: unexpected end of JSON input"),
]


@pytest.mark.parametrize(("doc", "msg"), ERRORS)
def test_errors(doc: Any, msg: str) -> None:
    with pytest.raises(CniError) as err:
        parse(doc)
    assert (err.value.code, err.value.msg) == (7, msg)


BOOLS = [
    (True, True),
    (False, False),
    ("true", True),
    ("TRUE", True),
    ("False", False),
    ("fAlSe", False),
]


@pytest.mark.parametrize(("value", "expected"), BOOLS)
@pytest.mark.parametrize("key", ["disableCheck", "disableGC"])
def test_bool_keys(key: str, value: Any, expected: bool) -> None:
    net = parse({"name": "n", key: value, "plugins": P})
    assert {"disableCheck": net.disable_check, "disableGC": net.disable_gc}[key] is expected


def test_defaults_and_plugins_untouched() -> None:
    plugin = {"type": "bridge", "unknown": {"z": 1, "a": [1.5, "x"]}, "capabilities": {"mac": True}}
    raw = json.dumps({"cniVersion": "1.0.0", "name": "n", "plugins": [plugin]}, indent=2).encode()
    net = NetworkConfigList.from_bytes(raw, source="f.conflist")
    assert (net.disable_check, net.disable_gc) == (False, False)
    assert net.plugins == [plugin]
    assert list(net.plugins[0]["unknown"]) == ["z", "a"]
    assert net.raw == raw  # cached verbatim
    assert net.source == "f.conflist"


def test_single_conf_is_wrapped_and_cached_as_the_list_libcni_builds() -> None:
    conf = {"type": "bridge", "name": "single", "cniVersion": "0.4.0", "b": "<x>", "a": 1}
    net = NetworkConfigList.from_bytes(json.dumps(conf).encode())
    assert (net.name, net.cni_version, net.plugins) == ("single", "0.4.0", [conf])
    assert net.raw == (
        b'{"cniVersion":"0.4.0","name":"single","plugins":[{"a":1,"b":"\\u003cx\\u003e",'
        b'"cniVersion":"0.4.0","name":"single","type":"bridge"}]}'
    )


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "x.conflist"
    path.write_text('{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"a"}]}')
    assert NetworkConfigList.from_file(path).name == "n"
    with pytest.raises(CniError) as err:
        NetworkConfigList.from_file(tmp_path / "missing.conflist")
    assert err.value.code == 7
    assert "missing.conflist" in err.value.msg
