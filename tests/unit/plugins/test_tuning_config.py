"""tuning without the kernel: how the configuration is read (the reference's order and
messages), sysctl paths, MACs, the allow-list and the backup file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymultus.cni.env import CniEnv
from pymultus.cni.errors import CniError
from pymultus.net.gotypes import parse_mac_arg as parse_mac
from pymultus.net.sysctl import net_path as sysctl_path
from pymultus.plugin import PluginContext
from pymultus.plugin import Request
from pymultus_tuning import Tuning
from pymultus_tuning.backup import SYSCTL_KEY
from pymultus_tuning.backup import encode_backup
from pymultus_tuning.backup import read_backup
from pymultus_tuning.conf import check_allowlist
from pymultus_tuning.conf import load_conf

PREV = {"cniVersion": "0.4.0", "interfaces": [{"name": "net1"}], "dns": {}}


def conf(**keys: Any) -> dict[str, Any]:
    return {"cniVersion": "0.4.0", "name": "pmtun", "type": "tuning", **keys}


def request(
    config: dict[str, Any] | str,
    *,
    args: str = "",
    command: str = "ADD",
    ifname: str = "net1",
    netns: str = "/run/netns/pmtun-none",
    state_root: Path = Path("/nonexistent/pmtun-state"),
) -> Request:
    stdin = (config if isinstance(config, str) else json.dumps(config)).encode()
    env = CniEnv(
        command=command,
        container_id="c1",
        netns=netns,
        ifname=ifname,
        args=args,
        path=("/nonexistent",),
    )
    # tuning delegates to nothing, so there is no registry.
    ctx = PluginContext(registry=None, state_root=state_root)  # type: ignore[arg-type]
    return Request(env=env, config=json.loads(stdin), stdin=stdin, ctx=ctx)


def error_of(config: dict[str, Any] | str, **kw: Any) -> CniError:
    with pytest.raises(CniError) as err:
        load_conf(request(config, **kw)).sysctls()
    return err.value


# -- decoding errors: the reference's texts, in document order ---------------------------


@pytest.mark.parametrize(
    ("keys", "msg"),
    [
        ({"mtu": "1400"}, "TuningConf.mtu of type int"),
        ({"mtu": 1400.5}, "cannot unmarshal number 1400.5 into Go struct field TuningConf.mtu"),
        ({"mtu": 2**64}, f"cannot unmarshal number {2**64} into"),
        ({"mac": 5}, "cannot unmarshal number into Go struct field TuningConf.mac of type string"),
        (
            {"promisc": "yes"},
            "unmarshal string into Go struct field TuningConf.promisc of type bool",
        ),
        ({"allmulti": 1}, "TuningConf.allmulti of type bool"),
        ({"txQLen": "x"}, "TuningConf.txQLen of type int"),
        ({"dataDir": 5}, "TuningConf.dataDir of type string"),
        (
            {"sysctl": []},
            "unmarshal array into Go struct field TuningConf.sysctl of type map[string]string",
        ),
        (
            {"sysctl": {"a": 1}},
            "unmarshal number into Go struct field TuningConf.sysctl of type string",
        ),
        ({"runtimeConfig": {"mac": 5}}, "Go struct field .runtimeConfig.mac of type string"),
        ({"args": {"cni": 5}}, "Go struct field .args.cni of type main.IPAMArgs"),
        ({"args": {"cni": {"mtu": "x"}}}, "Go struct field IPAMArgs.args.cni.mtu of type int"),
        ({"args": {"cni": {"sysctl": {"a": 1}}}}, "IPAMArgs.args.cni.sysctl of type string"),
        ({"prevResult": 5}, "TuningConf.prevResult of type map[string]interface {}"),
    ],
)
def test_type_errors_read_as_the_reference_prints_them(keys: dict[str, Any], msg: str) -> None:
    err = error_of(conf(**keys))
    assert err.code == 999
    assert err.msg.startswith("failed to load netconf: json: cannot unmarshal ")
    assert msg in err.msg


def test_args_type_error_shows_the_go_struct() -> None:
    assert error_of(conf(args="x")).msg == (
        "failed to load netconf: json: cannot unmarshal string into Go struct field "
        'TuningConf.args of type struct { A *main.IPAMArgs "json:\\"cni\\"" }'
    )


def test_first_type_error_in_document_order_wins() -> None:
    assert "TuningConf.mtu" in error_of(conf(mtu="a", mac=5)).msg
    assert "TuningConf.mac" in error_of(conf(mac=5, mtu="a")).msg
    assert "IPAMArgs.args.cni.mtu" in error_of(conf(args={"cni": {"mtu": "x"}}, mtu="y")).msg


def test_duplicate_sysctl_keys_are_refused_before_anything_else() -> None:
    text = (
        '{"cniVersion":"0.4.0","name":"pmtun","type":"tuning","mtu":"bad",'
        '"sysctl":{"net.ipv4.ip_forward":"1","net.ipv4.ip_forward":"0"}}'
    )
    err = error_of(text)
    assert (err.code, err.msg) == (999, "duplicated sysctl keys are not allowed")
    # DEL does not run that check (as the reference): it reports the type error.
    with pytest.raises(CniError, match=r"TuningConf\.mtu"):
        load_conf(request(text), strict=False)


def test_the_same_key_in_two_places_is_no_duplicate() -> None:
    loaded = load_conf(
        request(conf(sysctl={"net.a": "1"}, args={"cni": {"sysctl": {"net.a": "2"}}}))
    )
    assert loaded.sysctls() == {"net.a": "2"}


def test_null_values_are_absent_as_in_go() -> None:
    loaded = load_conf(request(conf(mtu=None, mac=None, allmulti=None, sysctl={"net.a": None})))
    assert (loaded.mtu, loaded.mac, loaded.allmulti) == (0, "", None)
    assert loaded.sysctls() == {"net.a": ""}


# -- precedence and overrides ----------------------------------------------------------------


def test_mac_precedence_args_cni_then_runtime_config_then_cni_args_then_config() -> None:
    base = {"mac": "c2:00:00:00:00:01"}
    assert load_conf(request(conf(**base))).mac == "c2:00:00:00:00:01"
    env = "IgnoreUnknown=1;MAC=c2:00:00:00:00:02;K8S_POD_NAME=p"
    assert load_conf(request(conf(**base), args=env)).mac == "c2:00:00:00:00:02"
    rc = {"runtimeConfig": {"mac": "c2:00:00:00:00:03"}}
    assert load_conf(request(conf(**base, **rc), args=env)).mac == "c2:00:00:00:00:03"
    a = {"args": {"cni": {"mac": "c2:00:00:00:00:04"}}}
    assert load_conf(request(conf(**base, **rc, **a), args=env)).mac == "c2:00:00:00:00:04"


def test_empty_args_cni_mac_switches_the_mac_off() -> None:
    assert load_conf(request(conf(mac="c2:00:00:00:00:01", args={"cni": {"mac": ""}}))).mac == ""


def test_unknown_cni_args_need_ignore_unknown() -> None:
    err = error_of(conf(), args="MAC=c2:00:00:00:00:02;FOO=bar")
    assert err.msg == 'ARGS: unknown args ["FOO=bar"]'


def test_args_cni_override_every_attribute() -> None:
    loaded = load_conf(
        request(
            conf(
                mtu=1400,
                promisc=True,
                allmulti=True,
                txQLen=10,
                args={"cni": {"mtu": 0, "promisc": False, "allmulti": False, "txQLen": 20}},
            )
        )
    )
    assert (loaded.mtu, loaded.promisc, loaded.allmulti, loaded.txqlen) == (0, False, False, 20)
    assert loaded.wanted() == {"allmulti": False, "txQLen": 20}


def test_args_cni_sysctl_is_merged_over_the_config() -> None:
    loaded = load_conf(
        request(
            conf(
                sysctl={"net.a": "1", "net.b": "1"},
                args={"cni": {"sysctl": {"net.b": "2", "net.c": "3"}}},
            )
        )
    )
    assert loaded.sysctls() == {"net.a": "1", "net.b": "2", "net.c": "3"}


def test_args_cni_sysctl_without_a_sysctl_map_is_a_cni_error() -> None:
    """The reference panics here (exit 2); ours is an ordinary CNI error."""
    err = error_of(conf(args={"cni": {"sysctl": {"net.a": "1"}}}))
    assert err.code == 7
    assert err.msg == 'args.cni.sysctl needs a "sysctl" map in the configuration to merge into'
    # An empty args.cni.sysctl merges nothing, so it is fine (the reference does not
    # panic either), and DEL never needs the merge.
    assert load_conf(request(conf(args={"cni": {"sysctl": {}}}))).sysctls() == {}
    assert load_conf(request(conf(args={"cni": {"sysctl": {"net.a": "1"}}})), strict=False)


def test_link_attributes_changed_follow_the_reference() -> None:
    assert load_conf(request(conf(promisc=False, mtu=0, mac=""))).wanted() == {}
    assert load_conf(request(conf(allmulti=False))).wanted() == {"allmulti": False}
    assert load_conf(request(conf(txQLen=0))).wanted() == {"txQLen": 0}
    assert load_conf(request(conf(promisc=True, mtu=9000))).wanted() == {
        "promisc": True,
        "mtu": 9000,
    }


# -- sysctl paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "ifname", "path"),
    [
        ("net.ipv4.conf.eth0.arp_notify", "net1", "/proc/sys/net/ipv4/conf/eth0/arp_notify"),
        ("net/ipv4/conf/eth0/arp_notify", "net1", "/proc/sys/net/ipv4/conf/eth0/arp_notify"),
        ("net.ipv4.conf.IFNAME.arp_notify", "net1", "/proc/sys/net/ipv4/conf/net1/arp_notify"),
        # IFNAME is substituted after the dots became slashes: dotted names work.
        ("net.ipv4.conf.IFNAME.arp_notify", "eth0.5", "/proc/sys/net/ipv4/conf/eth0.5/arp_notify"),
        # Only the first IFNAME.
        ("net.IFNAME.IFNAME", "x", "/proc/sys/net/x/IFNAME"),
        # Dots cannot form "..": they all became slashes; the path is cleaned.
        ("net/../net/ipv4/x", "n", "/proc/sys/net/net/ipv4/x"),
        ("/net//ipv4/x/", "n", "/proc/sys/net/ipv4/x"),
    ],
)
def test_sysctl_paths(key: str, ifname: str, path: str) -> None:
    assert sysctl_path(key, ifname) == path


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("kernel.hostname", '"kernel/hostname"'),
        ("net", '"net"'),
        ("", '""'),
        ("netfoo.x", '"netfoo/x"'),
        ('kernel/"q"\n', '"kernel/\\"q\\"\\n"'),
    ],
)
def test_non_net_sysctls_are_refused(key: str, shown: str) -> None:
    with pytest.raises(CniError) as err:
        sysctl_path(key, "net1")
    assert err.value.msg == f"invalid net sysctl key: {shown}"


def test_ifname_with_a_slash_is_refused() -> None:
    """Unreachable through the skeleton (it refuses such names), kept for direct calls."""
    req = request(conf(prevResult=PREV), ifname="a/b")
    with pytest.raises(CniError, match=r"^Interface name \(a/b\) contains an invalid character /$"):
        Tuning().add(req)


# -- MACs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("c2:b0:57:49:47:f1", "c2b0574947f1"),
        ("C2-B0-57-49-47-F1", "c2b0574947f1"),
        ("c2b0.5749.47f1", "c2b0574947f1"),
        ("00:11:22:33:44:55:66:77", "0011223344556677"),
    ],
)
def test_macs_go_accepts(text: str, raw: str) -> None:
    assert parse_mac(text).hex() == raw


@pytest.mark.parametrize("text", ["zz", "c2:b0:57:49:47", "c2:b0-57:49:47:f1", "c2:b0:57:49:47:fg"])
def test_bad_macs(text: str) -> None:
    with pytest.raises(CniError) as err:
        parse_mac(text)
    assert err.value.msg == f"invalid args {text} for MAC addr: address {text}: invalid MAC address"


# -- the allow-list --------------------------------------------------------------------------


def test_allowlist_absent_allows_everything(tmp_path: Path) -> None:
    check_allowlist(["net.anything"], str(tmp_path / "none.conf"))


def test_allowlist_lines_are_searched_regexes(tmp_path: Path) -> None:
    allow = tmp_path / "allowlist.conf"
    allow.write_text("  ^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$ \n\n^net\\.core\\.somaxconn$\n")
    check_allowlist(["net.ipv4.conf.IFNAME.arp_notify", "net.core.somaxconn"], str(allow))
    with pytest.raises(CniError) as err:
        check_allowlist(["net.ipv4.conf.IFNAME.arp_notify", "net.ipv4.ip_forward"], str(allow))
    assert err.value.msg == (
        "Sysctl net.ipv4.ip_forward is not allowed. Only the following sysctls are allowed: "
        "[^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$ ^net\\.core\\.somaxconn$]"
    )


def test_allowlist_checks_args_cni_sysctls_too_before_the_netns(tmp_path: Path) -> None:
    allow = tmp_path / "allowlist.conf"
    allow.write_text("^net\\.ipv4\\.conf\\.IFNAME\\.arp_notify$\n")
    c = conf(sysctl={}, args={"cni": {"sysctl": {"net.ipv4.ip_forward": "1"}}}, prevResult=PREV)
    with pytest.raises(CniError, match=r"^Sysctl net.ipv4.ip_forward is not allowed"):
        Tuning(allowlist=str(allow)).add(request(c))


# -- ADD's checks before the namespace -------------------------------------------------------


def test_prev_result_is_required() -> None:
    for c in (conf(mtu=1400), conf(mtu=1400, prevResult=None)):
        with pytest.raises(CniError) as err:
            Tuning().add(request(c))
        assert (err.value.code, err.value.msg) == (999, "Required prevResult missing")
        with pytest.raises(CniError, match=r"^Required prevResult missing$"):
            Tuning().check(request(c, command="CHECK"))


def test_prev_result_of_another_family_is_a_plain_error() -> None:
    c = conf(prevResult={"cniVersion": "1.0.0"})
    with pytest.raises(CniError) as err:
        Tuning().add(request(c))
    assert err.value.code == 999
    assert err.value.msg == (
        "could not parse prevResult: result type supports [0.3.0 0.3.1 0.4.0] "
        'but unmarshalled CNIVersion is "1.0.0"'
    )


def test_missing_netns_reads_as_the_reference() -> None:
    c = conf(prevResult=PREV)
    with pytest.raises(CniError) as err:
        Tuning().add(request(c, netns="/run/netns/pmtun-none"))
    assert err.value.msg == 'failed to Statfs "/run/netns/pmtun-none": no such file or directory'


def test_not_a_netns_reads_as_the_reference(tmp_path: Path) -> None:
    with pytest.raises(CniError) as err:
        Tuning().add(request(conf(prevResult=PREV), netns=str(tmp_path)))
    assert err.value.msg.startswith(f'unknown FS magic on "{tmp_path}": ')


# -- DEL without anything to do --------------------------------------------------------------


def test_del_without_backup_is_a_no_op(tmp_path: Path) -> None:
    Tuning().delete(request(conf(dataDir=str(tmp_path)), command="DEL"))
    assert list(tmp_path.iterdir()) == []


def test_del_drops_the_backup_when_the_netns_is_gone(tmp_path: Path) -> None:
    backup = tmp_path / "c1_net1.json"
    backup.write_text('{\n "mtu": 1500\n}')
    Tuning().delete(request(conf(dataDir=str(tmp_path)), command="DEL"))
    assert not backup.exists()


def test_del_keeps_an_unreadable_backup(tmp_path: Path) -> None:
    backup = tmp_path / "c1_net1.json"
    backup.write_text('{"mtu": "not a number"}')
    Tuning().delete(request(conf(dataDir=str(tmp_path)), command="DEL"))
    assert backup.exists()


def test_data_dir_defaults_to_the_state_root(tmp_path: Path) -> None:
    (tmp_path / "tuning").mkdir()
    backup = tmp_path / "tuning" / "c1_net1.json"
    backup.write_text("{}")
    Tuning().delete(request(conf(), command="DEL", state_root=tmp_path))
    assert not backup.exists()


# -- the backup file -------------------------------------------------------------------------


def test_backup_file_is_the_reference_format_plus_our_key() -> None:
    data = {
        SYSCTL_KEY: {"net/ipv4/conf/net1/arp_notify": "0"},
        "txQLen": 1000,
        "allmulti": False,
        "mtu": 1500,
        "promisc": False,
        "mac": "0a:58:0a:01:01:05",
    }
    assert encode_backup(data).decode() == (
        "{\n"
        ' "mac": "0a:58:0a:01:01:05",\n'
        ' "promisc": false,\n'
        ' "mtu": 1500,\n'
        ' "allmulti": false,\n'
        ' "txQLen": 1000,\n'
        ' "pymultusSysctl": {\n'
        '  "net/ipv4/conf/net1/arp_notify": "0"\n'
        " }\n"
        "}"
    )
    # omitempty as in Go: an empty MAC, MTU 0 and no sysctls are left out.
    assert encode_backup({"mac": "", "mtu": 0, "promisc": True, SYSCTL_KEY: {}}) == (
        b'{\n "promisc": true\n}'
    )


def test_reference_backup_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        '{\n "mac": "36:9a:91:0b:33:65",\n "promisc": false,\n "mtu": 1500,\n "allmulti": false\n}'
    )
    assert read_backup(path) == {
        "mac": "36:9a:91:0b:33:65",
        "promisc": False,
        "mtu": 1500,
        "allmulti": False,
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{",
        '{"mtu": "1500"}',
        '{"promisc": 1}',
        '{"mtu": true}',
        '{"pymultusSysctl": {"a": 1}}',
    ],
)
def test_unusable_backup_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    assert read_backup(path) is None


def test_unknown_keys_in_a_backup_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"mtu": 1400, "future": [1, 2]}')
    assert read_backup(path) == {"mtu": 1400, "future": [1, 2]}
