"""Who is behind a loopback port: the kernel's own answer, read from ``/proc/net/tcp``.

A port on 127.0.0.1 is open to every local user: a process of another user can bind a port
ao means to use (it is visible in ``/proc/*/cmdline``) before the real server does, and would
then receive ao's ``Authorization`` header and prompts. So before ao sends anything over a TCP
connection to one of its servers it asks the kernel which user owns the socket at the other end
(:func:`peer_uid`), and it reuses a recorded server only while the listening socket on its port
is one of that server's own descriptors (:func:`listens`). Unix sockets in a 0700 folder need
no such check.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

LISTEN = 0x0A


@dataclass(frozen=True)
class Entry:
    local: tuple[str, int]
    remote: tuple[str, int]
    state: int
    uid: int
    inode: int


def _addr(text: str) -> tuple[str, int]:
    ip, port = text.split(":")
    return socket.inet_ntoa(struct.pack("=I", int(ip, 16))), int(port, 16)


def entries(path: str = "/proc/net/tcp") -> list[Entry]:
    """The IPv4 TCP sockets of this network namespace (an empty list where the table cannot be read)."""
    out: list[Entry] = []
    try:
        with open(path) as f:
            next(f, None)  # the header
            for line in f:
                cols = line.split()
                if len(cols) < 10:
                    continue
                try:
                    out.append(Entry(_addr(cols[1]), _addr(cols[2]), int(cols[3], 16), int(cols[7]), int(cols[9])))
                except ValueError:
                    continue
    except OSError:
        return []
    return out


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
_NOCOOKIE = 0xFFFFFFFF


def _diag(local: tuple[str, int], remote: tuple[str, int]) -> Entry | None:
    """The IPv4 TCP socket bound to ``local`` and connected to ``remote`` (else the one listening on ``local``),
    asked of the kernel by its exact address (``sock_diag``, as ``ss`` does): one lookup, whatever the size of
    the machine's TCP table. None when there is none; OSError when the kernel cannot be asked."""
    sockid = struct.pack(
        "!HH4s12x4s12x", local[1], remote[1], socket.inet_aton(local[0]), socket.inet_aton(remote[0])
    ) + struct.pack("=III", 0, _NOCOOKIE, _NOCOOKIE)
    req = struct.pack("=BBBxI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0xFFFFFFFF) + sockid
    msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + req
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5)
        nl.sendto(msg, (0, 0))
        data = nl.recv(65536)
    if len(data) < 16:
        return None
    length, kind = struct.unpack_from("=IH", data)
    if kind == NLMSG_ERROR or length < 16 + 72:
        return None
    state = data[17]
    sport, dport, src, dst = struct.unpack_from("!HH4s12x4s12x", data, 20)
    uid, inode = struct.unpack_from("=II", data, 16 + 4 + 48 + 12)
    return Entry((socket.inet_ntoa(src), sport), (socket.inet_ntoa(dst), dport), state, uid, inode)


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the far end of a connected loopback TCP socket, or None when the kernel does not say.

    The far end is the server's accepted socket: it belongs to the owner of the listening socket
    (the kernel copies it), whether or not the server has called ``accept()`` yet.
    """
    here = sock.getsockname()[:2]
    there = sock.getpeername()[:2]
    try:
        found = _diag(there, here)
        return found.uid if found is not None else None
    except OSError:  # no sock_diag here: the whole table, the slow way
        pass
    for e in entries():
        if e.local == there and e.remote == here:
            return e.uid
    return None


def _socket_inodes(pid: int) -> set[int] | None:
    inodes: set[int] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listener(port: int) -> Entry | None:
    """The socket listening on 127.0.0.1:``port`` (or on every address), if any."""
    try:
        found = _diag(("127.0.0.1", port), ("0.0.0.0", 0))
        return found if found is not None and found.state == LISTEN else None
    except OSError:  # no sock_diag here: the whole table, the slow way
        pass
    for e in entries():
        if e.state == LISTEN and e.local[1] == port and e.local[0] in ("127.0.0.1", "0.0.0.0"):
            return e
    return None


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` (of this user) itself holds the socket listening on 127.0.0.1:``port``.

    Asked of the kernel, not of the server: true for a server that is stopped or too busy to
    answer, false for one that closed its port, and false when another process holds the port.
    """
    e = listener(port)
    if e is None or e.uid != os.getuid():
        return False
    inodes = _socket_inodes(pid)
    if inodes is None:  # its descriptors cannot be read: the owner of the socket is what the kernel says
        return True
    return e.inode in inodes
