"""Both annotation forms, validation, and the messages naming pod, annotation and element
(multus-behaviour.md §1.2 and §4 cases 13-17, 44)."""

from __future__ import annotations

import json

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.annotations import AnnotationError
from pymultus.multus.annotations import ifname_problem
from pymultus.multus.annotations import is_cidr
from pymultus.multus.annotations import is_mac
from pymultus.multus.annotations import parse_default_network
from pymultus.multus.annotations import parse_selection_annotation

POD = "test/testpod"
KEY = "k8s.v1.cni.cncf.io/networks"


def parse(value: str):
    return parse_selection_annotation(value, default_namespace="test", pod=POD)


def test_case13_short_list() -> None:
    nets = parse("net1,net2")
    assert [(n.namespace, n.name, n.interface) for n in nets] == [
        ("test", "net1", ""),
        ("test", "net2", ""),
    ]
    assert [n.index for n in nets] == [0, 1]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("net1", ("test", "net1", "")),
        ("default/net1", ("default", "net1", "")),
        ("net1@my_interface", ("test", "net1", "my_interface")),
        ("default/net1@my_interface", ("default", "net1", "my_interface")),
        ("  other/net1 @ x1 ", ("other", "net1", "x1")),
    ],
)
def test_case17_short_forms_that_pass(value: str, want: tuple[str, str, str]) -> None:
    (net,) = parse(value)
    assert (net.namespace, net.name, net.interface) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("root@someIP/root@someOtherIP/root@thirdIP", "invalid network object (failed at '/')"),
        ("root@someIP/root@someOtherIP@garbagevalue", "invalid network object (failed at '@')"),
        ("root@someIP/root@someOtherIP", "namespace 'root@someIP' is not a DNS-1123 label"),
        ("default/net1@myIfc Name", "contains / or : or whitespace"),
        ("default/net1@very_long_interface_name", "is longer than 15 characters"),
        ("Net1", "name 'Net1' is not a DNS-1123 label"),
        ("a,,b", "empty network name"),
    ],
)
def test_case16_short_forms_that_fail(value: str, want: str) -> None:
    with pytest.raises(AnnotationError) as err:
        parse(value)
    assert err.value.code == 7
    assert want in err.value.msg
    assert err.value.msg.startswith(f"pod {POD}: annotation {KEY}: element ")


def test_case14_json_form_with_unknown_keys_and_namespaces() -> None:
    value = json.dumps(
        [
            {"name": "net1"},
            {"name": "net2", "ipRequest": "1.2.3.4", "macRequest": "aa:bb"},
            {"name": "net3", "namespace": "other-ns"},
        ]
    )
    nets = parse(value)
    assert [(n.namespace, n.name) for n in nets] == [
        ("test", "net1"),
        ("test", "net2"),
        ("other-ns", "net3"),
    ]
    assert nets[1].ips is None and nets[1].mac == ""


def test_json_form_accepts_dotted_names() -> None:
    (net,) = parse('[{"name": "my.net"}]')
    assert net.name == "my.net"


def test_case15_garbage_json() -> None:
    with pytest.raises(AnnotationError) as err:
        parse("[adsfasdfasdfasf]")
    assert err.value.msg == (
        f"pod {POD}: annotation {KEY}: failed to parse pod Network Attachment Selection "
        "Annotation JSON format: invalid character 'a' looking for beginning of value"
    )


def test_single_object_is_not_a_list() -> None:
    with pytest.raises(AnnotationError, match="expected a list of network selection objects"):
        parse('{"name": "net1"}')


def test_case44_ips_as_a_string() -> None:
    with pytest.raises(AnnotationError) as err:
        parse('[{"name":"x","ips":"10.1.1.6/24"}]')
    assert err.value.msg == (
        f'pod {POD}: annotation {KEY}: element 0 ("x"): "ips" must be a list of strings, '
        'got a string ("10.1.1.6/24")'
    )


def test_the_seed_annotation() -> None:
    value = """[
            { "name": "macvlan-conf",
              "ips": [ "10.1.1.101/24" ],
              "mac": "c2:b0:57:49:47:f1",
              "gateway": [ "10.1.1.1" ]
            }]"""
    (net,) = parse(value)
    assert net.ref == "test/macvlan-conf"
    assert net.ips == ["10.1.1.101/24"]
    assert net.mac == "c2:b0:57:49:47:f1"
    assert net.default_route == ["10.1.1.1"]  # "gateway" is an alias of "default-route"


def test_full_element() -> None:
    value = json.dumps(
        [
            {
                "name": "n",
                "namespace": "ns",
                "interface": "ext0",
                "ips": ["10.0.0.1", "fd00::1/64"],
                "mac": "c2:11:22:33:44:66",
                "infiniband-guid": "c2:11:22:33:44:66:77:88",
                "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                "bandwidth": {"ingressRate": 2048, "ingressBurst": 1600},
                "deviceID": "0000:00:00.0",
                "cni-args": {"a": 1},
                "default-route": ["10.0.0.254"],
                "ipam-claim-reference": "ignored",
            }
        ]
    )
    (n,) = parse(value)
    assert (n.namespace, n.interface, n.ips, n.mac, n.infiniband_guid) == (
        "ns",
        "ext0",
        ["10.0.0.1", "fd00::1/64"],
        "c2:11:22:33:44:66",
        "c2:11:22:33:44:66:77:88",
    )
    assert n.port_mappings == [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    assert n.bandwidth == {"ingressRate": 2048, "ingressBurst": 1600}
    assert (n.device_id, n.cni_args, n.default_route) == ("0000:00:00.0", {"a": 1}, ["10.0.0.254"])


def test_interface_request_is_the_old_name_of_interface() -> None:
    (n,) = parse('[{"name":"n","interfaceRequest":"old0"}]')
    assert n.interface == "old0"
    (n,) = parse('[{"name":"n","interface":"new0","interfaceRequest":"old0"}]')
    assert n.interface == "new0"


@pytest.mark.parametrize(
    ("element", "want"),
    [
        (
            {"name": "n", "mac": "c2:b0:57:49:47"},
            "\"mac\": failed to parse MAC address 'c2:b0:57:49:47'",
        ),
        ({"name": "n", "ips": ["10.1.1.300/24"]}, "\"ips\": failed to parse CIDR '10.1.1.300/24'"),
        ({"name": "n", "ips": ["10.1.1.1/33"]}, "failed to parse CIDR"),
        ({"name": "n", "ips": ["hello"]}, "\"ips\": failed to parse IP address 'hello'"),
        ({"name": "n", "infiniband-guid": "zz"}, "failed to validate infiniband GUID"),
        ({"name": "n", "gateway": ["10.1.1"]}, "\"gateway\": '10.1.1' is not an IP address"),
        (
            {"name": "n", "default-route": "10.1.1.1"},
            '"default-route" must be a list of IP addresses',
        ),
        (
            {"name": "n", "gateway": ["10.1.1.1"], "default-route": ["10.1.1.2"]},
            '"gateway" is an alias of "default-route"',
        ),
        ({"name": "n", "interface": "a/b"}, "contains / or : or whitespace"),
        ({"name": "n", "interface": "x" * 16}, "longer than 15 characters"),
        (
            {"name": "n", "portMappings": [{"hostPort": "80"}]},
            '"portMappings[0].hostPort" must be an integer',
        ),
        ({"name": "n", "bandwidth": []}, '"bandwidth" must be an object, got a list'),
        ({"name": "n", "cni-args": "x=y"}, '"cni-args" must be an object, got a string'),
        ({"name": 5}, '"name" must be a string'),
        ({"namespace": "x"}, '"name" is missing or empty'),
    ],
)
def test_json_element_validation(element: dict, want: str) -> None:
    with pytest.raises(AnnotationError) as err:
        parse(json.dumps([{"name": "ok"}, element]))
    assert want in err.value.msg
    assert f"pod {POD}: annotation {KEY}: element 1 " in err.value.msg


def test_element_that_is_not_an_object() -> None:
    with pytest.raises(AnnotationError, match="element 0: must be a network selection object"):
        parse('["net1"]')


def test_same_gateway_under_both_names_is_fine() -> None:
    (n,) = parse('[{"name":"n","gateway":["10.1.1.1"],"default-route":["10.1.1.1"]}]')
    assert n.default_route == ["10.1.1.1"]


def test_empty_default_route_is_kept_distinct_from_absent() -> None:
    a, b = parse('[{"name":"a","default-route":[]},{"name":"b"}]')
    assert a.default_route == [] and b.default_route is None


def test_empty_annotation_means_no_networks() -> None:
    assert parse("") == [] and parse("   ") == []


def test_default_network_annotation() -> None:
    sel = parse_default_network("net1", multus_namespace="kube-system", pod=POD)
    assert sel is not None and sel.ref == "kube-system/net1"
    sel = parse_default_network("other/net1", multus_namespace="kube-system", pod=POD)
    assert sel is not None and sel.ref == "other/net1"
    assert parse_default_network("", multus_namespace="kube-system", pod=POD) is None
    with pytest.raises(CniError) as err:
        parse_default_network("a,b", multus_namespace="kube-system", pod=POD)
    assert err.value.msg == (
        f"pod {POD}: annotation v1.multus-cni.io/default-network: more than one default "
        "network is specified"
    )


@pytest.mark.parametrize(
    "mac",
    [
        "c2:b0:57:49:47:f1",
        "C2-B0-57-49-47-F1",
        "c2b0.5749.47f1",
        "00:00:00:00:fe:80:00:00",
        "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
    ],
)
def test_mac_forms_go_accepts(mac: str) -> None:
    assert is_mac(mac)


@pytest.mark.parametrize(
    "mac",
    [
        "",
        "c2:b0:57:49:47",
        "c2:b0:57:49:47:f1:",
        "c2:b0-57:49:47:f1",
        "g2:b0:57:49:47:f1",
        "c2b0.5749.47f",
    ],
)
def test_mac_forms_go_rejects(mac: str) -> None:
    assert not is_mac(mac)


def test_cidr() -> None:
    assert is_cidr("10.1.1.101/24") and is_cidr("fd00::1/64")
    assert not is_cidr("10.1.1.101") and not is_cidr("10.1.1.1/255.255.255.0")
    # Go's net.ParseCIDR: no zone, ASCII digits only
    assert not is_cidr("fe80::1%eth0/64") and not is_cidr("10.1.1.1/2\u00b2")


@pytest.mark.parametrize(
    ("interface", "want"),
    [
        (".", "interface name '.' is . or .."),
        ("a\u3000b", "interface name 'a\\u3000b' contains / or : or whitespace"),
        ("a\x1cb", ""),  # U+001C is not whitespace to Go (Python's isspace says it is)
        ("net1", ""),
    ],
)
def test_interface_names_follow_libcni_rules(interface: str, want: str) -> None:
    """The skeleton's rules (``cni.env.validate_ifname``), worded for the annotation."""
    assert ifname_problem(interface) == want


def test_zoned_addresses_are_refused_as_go_does() -> None:
    with pytest.raises(AnnotationError, match="is not an IP address"):
        parse('[{"name":"n","default-route":["fe80::1%eth0"]}]')
    (n,) = parse('[{"name":"n","default-route":["::ffff:10.1.1.1"]}]')
    assert n.default_route == ["10.1.1.1"]  # IPv4-mapped prints as IPv4, as Go's IP.String
