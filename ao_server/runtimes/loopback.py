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


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the far end of a connected loopback TCP socket, or None when the kernel does not say.

    The far end is the server's accepted socket: it belongs to the owner of the listening socket
    (the kernel copies it), whether or not the server has called ``accept()`` yet.
    """
    here = sock.getsockname()[:2]
    there = sock.getpeername()[:2]
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
