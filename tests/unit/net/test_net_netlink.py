"""pymultus.net.netlink against a fake kernel: one end of a Unix datagram socketpair
stands in for the netlink socket, and a thread on the other end reads each request
and answers with crafted netlink datagrams (no kernel, no root)."""

from __future__ import annotations

import errno
import socket
import struct
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

import pytest
from pymultus.net.netlink import DUMP_TRIES
from pymultus.net.netlink import HEADER
from pymultus.net.netlink import NLA_F_NESTED
from pymultus.net.netlink import NLM_F_ACK
from pymultus.net.netlink import NLM_F_DUMP
from pymultus.net.netlink import NLM_F_DUMP_INTR
from pymultus.net.netlink import NLM_F_REQUEST
from pymultus.net.netlink import NLMSG_DONE
from pymultus.net.netlink import NLMSG_ERROR
from pymultus.net.netlink import RTM_GETLINK
from pymultus.net.netlink import RTM_NEWLINK
from pymultus.net.netlink import DumpInterrupted
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import NetlinkFailure
from pymultus.net.netlink import align
from pymultus.net.netlink import attr
from pymultus.net.netlink import attr_str
from pymultus.net.netlink import attr_u32
from pymultus.net.netlink import nested
from pymultus.net.netlink import parse_attrs
from pymultus.net.netlink import text
from pymultus.net.netlink import u32

NLM_F_MULTI = 0x2
#: What the fake answers: the request's (sequence number, index from 0) → datagrams.
Answer = Callable[[int, int], list[bytes]]


# -- crafting the kernel's side ------------------------------------------------------------


def message(kind: int, seq: int, body: bytes = b"", flags: int = 0) -> bytes:
    """One netlink message, padded to 4 bytes as the kernel sends it."""
    length = HEADER.size + len(body)
    return HEADER.pack(length, kind, flags, seq, 0) + body + b"\0" * (align(length) - length)


def error(seq: int, code: int) -> bytes:
    """``NLMSG_ERROR``: the (negative) errno, then the request's header; 0 is an ACK."""
    return message(NLMSG_ERROR, seq, struct.pack("=i", code) + HEADER.pack(20, 0, 0, seq, 0))


def done(seq: int, flags: int = 0, code: int = 0) -> bytes:
    """``NLMSG_DONE``: ends a dump; a negative ``code`` is the dump's failure."""
    return message(NLMSG_DONE, seq, struct.pack("=i", code), NLM_F_MULTI | flags)


def part(seq: int, body: bytes, flags: int = 0) -> bytes:
    """One message of a dump."""
    return message(RTM_NEWLINK, seq, body, NLM_F_MULTI | flags)


@dataclass
class Request:
    kind: int
    flags: int
    seq: int
    payload: bytes


@dataclass
class FakeKernel:
    """The other end of ``nl.sock``: each request is recorded and answered."""

    nl: Netlink
    peer: socket.socket
    answer: Answer
    requests: list[Request] = field(default_factory=list)

    def serve(self) -> None:
        while True:
            data = self.peer.recv(1 << 20)
            if not data:
                return  # shut down by the fixture
            length, kind, flags, seq, _pid = HEADER.unpack_from(data)
            assert length == len(data)
            self.requests.append(Request(kind, flags, seq, data[HEADER.size :]))
            for datagram in self.answer(seq, len(self.requests) - 1):
                self.peer.send(datagram)


@pytest.fixture
def fake() -> Iterator[Callable[[Answer], FakeKernel]]:
    """``fake(answer) -> FakeKernel``, its ``nl`` a :class:`Netlink` wired to it."""
    made: list[tuple[FakeKernel, threading.Thread]] = []

    def make(answer: Answer) -> FakeKernel:
        nl = Netlink()
        nl.sock.close()
        nl.sock, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        nl.sock.settimeout(5)  # a missing answer fails the test instead of hanging it
        kernel = FakeKernel(nl, peer, answer)
        thread = threading.Thread(target=kernel.serve, daemon=True)
        thread.start()
        made.append((kernel, thread))
        return kernel

    yield make
    for kernel, thread in made:
        kernel.peer.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv with b""
        thread.join(5)
        kernel.peer.close()
        kernel.nl.close()
        assert not thread.is_alive()


# -- requests -------------------------------------------------------------------------------


def test_an_ack_is_an_empty_answer(fake: Callable[[Answer], FakeKernel]) -> None:
    kernel = fake(lambda seq, _n: [error(seq, 0)])
    payload = attr_str(3, "net1")
    assert kernel.nl.request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, payload) == []
    assert kernel.nl.request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, payload) == []
    first, second = kernel.requests
    assert (first.kind, first.flags, first.payload) == (
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        payload,
    )
    assert second.seq == first.seq + 1


def test_a_kernel_error_is_a_netlink_failure_with_go_text(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    kernel = fake(lambda seq, _n: [error(seq, -errno.EEXIST)])
    with pytest.raises(NetlinkFailure) as caught:
        kernel.nl.request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, b"")
    assert caught.value.errno == errno.EEXIST
    assert str(caught.value) == "file exists"
    assert isinstance(caught.value, OSError)


def test_a_request_without_ack_returns_the_first_message(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    kernel = fake(lambda seq, _n: [message(RTM_NEWLINK, seq, b"link") + error(seq, 0)])
    assert kernel.nl.request(RTM_GETLINK, NLM_F_REQUEST, b"") == [(RTM_NEWLINK, b"link")]


def test_a_dump_collects_messages_across_datagrams_until_done(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    # bodies of odd length: the next message starts at the 4-byte boundary
    kernel = fake(lambda seq, _n: [part(seq, b"one") + part(seq, b"two22"), done(seq)])
    assert kernel.nl.dump(RTM_GETLINK, b"filter") == [
        (RTM_NEWLINK, b"one"),
        (RTM_NEWLINK, b"two22"),
    ]
    (request,) = kernel.requests
    assert (request.kind, request.flags, request.payload) == (
        RTM_GETLINK,
        NLM_F_REQUEST | NLM_F_DUMP,
        b"filter",
    )


def test_an_interrupted_dump_is_retried(fake: Callable[[Answer], FakeKernel]) -> None:
    def answer(seq: int, n: int) -> list[bytes]:
        if n < 2:  # the first two attempts are flagged inconsistent
            intr = NLM_F_DUMP_INTR
            return [part(seq, b"stale", intr), done(seq, intr)]
        return [part(seq, b"fresh"), done(seq)]

    kernel = fake(answer)
    assert kernel.nl.dump(RTM_GETLINK, b"") == [(RTM_NEWLINK, b"fresh")]
    assert len(kernel.requests) == 3
    assert [r.seq for r in kernel.requests] == [1, 2, 3]
    assert {r.flags for r in kernel.requests} == {NLM_F_REQUEST | NLM_F_DUMP}


def test_the_interrupt_flag_on_one_message_is_enough(fake: Callable[[Answer], FakeKernel]) -> None:
    def answer(seq: int, n: int) -> list[bytes]:
        flag = NLM_F_DUMP_INTR if n == 0 else 0
        return [part(seq, b"a", flag) + part(seq, b"b"), done(seq)]

    kernel = fake(answer)
    assert kernel.nl.dump(RTM_GETLINK, b"") == [(RTM_NEWLINK, b"a"), (RTM_NEWLINK, b"b")]
    assert len(kernel.requests) == 2


def test_a_dump_interrupted_every_time_gives_up(fake: Callable[[Answer], FakeKernel]) -> None:
    kernel = fake(lambda seq, _n: [part(seq, b"x", NLM_F_DUMP_INTR), done(seq)])
    with pytest.raises(DumpInterrupted) as caught:
        kernel.nl.dump(RTM_GETLINK, b"")
    assert str(caught.value) == "results may be incomplete or inconsistent"
    assert isinstance(caught.value, NetlinkFailure)
    assert caught.value.errno == errno.EINTR
    assert len(kernel.requests) == DUMP_TRIES == 5


def test_request_does_not_retry_an_interrupted_dump(fake: Callable[[Answer], FakeKernel]) -> None:
    kernel = fake(lambda seq, _n: [part(seq, b"x", NLM_F_DUMP_INTR), done(seq)])
    with pytest.raises(DumpInterrupted):
        kernel.nl.request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, b"")
    assert len(kernel.requests) == 1


def test_answers_to_an_earlier_request_are_skipped(fake: Callable[[Answer], FakeKernel]) -> None:
    def answer(seq: int, _n: int) -> list[bytes]:
        stale = seq - 1  # e.g. the rest of an answer abandoned after an exception
        return [
            error(stale, -errno.EEXIST),  # a datagram of its own
            message(RTM_NEWLINK, stale, b"old") + message(RTM_NEWLINK, seq, b"new"),
        ]

    kernel = fake(answer)
    assert kernel.nl.request(RTM_GETLINK, NLM_F_REQUEST, b"") == [(RTM_NEWLINK, b"new")]


def test_an_error_for_another_sequence_number_is_skipped(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    kernel = fake(lambda seq, _n: [error(seq + 7, -errno.ENODEV), error(seq, 0)])
    assert kernel.nl.request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, b"") == []


def test_a_datagram_larger_than_64_kib_arrives_whole(fake: Callable[[Answer], FakeKernel]) -> None:
    big = bytes(range(256)) * 400  # 102,400 bytes
    kernel = fake(lambda seq, _n: [part(seq, big) + part(seq, b"after"), done(seq)])
    answer = kernel.nl.dump(RTM_GETLINK, b"")
    assert [(kind, len(body)) for kind, body in answer] == [
        (RTM_NEWLINK, len(big)),
        (RTM_NEWLINK, 5),
    ]
    assert answer[0][1] == big
    assert answer[1][1] == b"after"
    # the grown buffer still serves the next, small answers
    assert kernel.nl.dump(RTM_GETLINK, b"") == answer
    kernel.answer = lambda seq, _n: [error(seq, 0)]
    assert kernel.nl.request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, b"") == []


def test_a_message_shorter_than_its_header_is_a_protocol_error(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    kernel = fake(lambda seq, _n: [HEADER.pack(8, RTM_NEWLINK, 0, seq, 0)])
    with pytest.raises(NetlinkFailure) as caught:
        kernel.nl.request(RTM_GETLINK, NLM_F_REQUEST, b"")
    assert caught.value.errno == errno.EPROTO


# -- attributes -----------------------------------------------------------------------------


def test_attr_pads_to_four_bytes() -> None:
    assert attr(7, b"abc") == struct.pack("=HH", 7, 7) + b"abc\0"
    assert attr(7, b"abcd") == struct.pack("=HH", 8, 7) + b"abcd"
    assert attr(7, b"") == struct.pack("=HH", 4, 7)
    assert attr_u32(4, 1500) == struct.pack("=HHI", 8, 4, 1500)
    assert attr_str(3, "eth0") == struct.pack("=HH", 9, 3) + b"eth0\0\0\0\0"


def test_parse_attrs_round_trips_attr() -> None:
    data = attr(1, b"\xaa") + attr_u32(4, 9000) + attr_str(3, "net1") + attr(20, b"")
    attrs = parse_attrs(data)
    assert attrs == {1: b"\xaa", 4: struct.pack("=I", 9000), 3: b"net1\0", 20: b""}
    assert u32(attrs[4]) == 9000
    assert text(attrs[3]) == "net1"
    assert text(attrs[20]) == ""


def test_parse_attrs_strips_the_nested_and_byte_order_flags() -> None:
    inner = [attr_str(1, "macvlan"), nested(2, [attr_u32(1, 4)])]
    data = nested(18, inner) + attr(5 | 0x4000, b"\0\0\0\1")
    assert struct.unpack_from("=HH", data)[1] == 18 | NLA_F_NESTED
    attrs = parse_attrs(data)
    assert set(attrs) == {18, 5}
    info = parse_attrs(attrs[18])
    assert text(info[1]) == "macvlan"
    assert u32(parse_attrs(info[2])[1]) == 4


def test_parse_attrs_from_an_offset_last_one_wins_and_stops_at_garbage() -> None:
    header = b"\xff" * 16
    data = header + attr_u32(4, 1) + attr_u32(4, 2) + struct.pack("=HH", 2, 9) + attr_u32(6, 3)
    assert parse_attrs(data, len(header)) == {4: struct.pack("=I", 2)}


def test_u32_and_text_of_missing_or_short_payloads() -> None:
    assert u32(None) == 0
    assert u32(b"\1\0") == 0
    assert text(None) == ""
    assert text(b"eth0\0junk") == "eth0"


def test_a_dump_that_failed_in_the_kernel_is_a_netlink_failure(
    fake: Callable[[Answer], FakeKernel],
) -> None:
    """The kernel reports a failed dump (e.g. the strict filter's unknown table) in the
    ``NLMSG_DONE`` body; the messages before it are not an answer."""
    kernel = fake(lambda seq, _n: [part(seq, b"a" * 16) + done(seq, code=-errno.ENOENT)])
    with pytest.raises(NetlinkFailure) as failed:
        kernel.nl.dump(RTM_GETLINK, b"")
    assert failed.value.errno == errno.ENOENT
    assert str(failed.value) == "no such file or directory"
    assert len(kernel.requests) == 1  # a failure is not retried


def test_netlink_control_messages_are_not_data(fake: Callable[[Answer], FakeKernel]) -> None:
    noop, overrun = 1, 4
    kernel = fake(
        lambda seq, _n: [
            message(noop, seq, b"", NLM_F_MULTI)
            + part(seq, b"b" * 16)
            + message(overrun, seq, b"", NLM_F_MULTI)
            + done(seq)
        ]
    )
    assert kernel.nl.dump(RTM_GETLINK, b"") == [(RTM_NEWLINK, b"b" * 16)]


def test_no_answer_is_a_timeout_failure(fake: Callable[[Answer], FakeKernel]) -> None:
    kernel = fake(lambda _seq, _n: [])
    kernel.nl.sock.settimeout(0.05)
    with pytest.raises(NetlinkFailure) as failed:
        kernel.nl.request(RTM_GETLINK, NLM_F_REQUEST, b"")
    assert failed.value.errno == errno.ETIMEDOUT
    assert str(failed.value) == "connection timed out"
