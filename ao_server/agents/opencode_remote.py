"""OpenCode's database on a remote host, read by the same reader as here, run there.

A status tick of a host sends, on the stdin of its one ssh command, a JSON document
with the sessions to read. :data:`BOOT`, a constant few lines run by ``python3 -c``
on the host, imports the reader from ``<stateDir>/reader-<hash>/`` and calls
:func:`remote_main`, which prints one JSON line. The reader is the source of the
modules of :data:`SHIPPED` (the stdlib-only database reader, its schema checks and
event replay, and the model types they name), sent in the document the first time
a process talks to a host, and kept there in a folder named after its hash (so
Python's own bytecode cache serves later ticks, and a new ao version brings its own).
The database is opened read-only exactly as it is here
(:mod:`ao_server.agents.opencode_db`), so both always read it the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..activity import Activity

if TYPE_CHECKING:
    from ..model import Introspection, SessionRecord

#: Modules the reader needs, parents first (packages are sent empty).
SHIPPED = (
    ("ao_server", True),
    ("ao_server.activity", False),
    ("ao_server.agents", True),
    ("ao_server.agents.opencode_schema", False),
    ("ao_server.agents.opencode_events", False),
    ("ao_server.agents.opencode_db", False),
    ("ao_server.agents.opencode_remote", False),
)

#: Run on the host as ``python3 -c BOOT <reader folder>``: keep the reader if it was sent, then read.
BOOT = (
    "import json,os,shutil,sys\n"
    "d=json.load(sys.stdin);lib=sys.argv[1]\n"
    "if d.get('modules') and not os.path.isdir(lib):\n"
    " tmp='%s.%d'%(lib,os.getpid())\n"
    " for n,src,pkg in d['modules']:\n"
    "  p=os.path.join(tmp,*n.split('.'))\n"
    "  p=os.path.join(p,'__init__.py') if pkg else p+'.py'\n"
    "  os.makedirs(os.path.dirname(p),exist_ok=True)\n"
    "  with open(p,'w') as f:f.write(src)\n"
    " try:os.rename(tmp,lib)\n"
    " except OSError:shutil.rmtree(tmp,True)\n"
    "if not os.path.isdir(lib):print(json.dumps({'need':'reader'}));sys.exit()\n"
    "sys.path.insert(0,lib)\n"
    "from ao_server.agents.opencode_remote import remote_main\n"
    "remote_main(d['call'],sys.argv[2])\n"
)


@lru_cache(maxsize=1)
def _sources() -> list[list[Any]]:
    out: list[list[Any]] = []
    for name, pkg in SHIPPED:
        if pkg:
            out.append([name, "", True])
            continue
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        with open(spec.origin, encoding="utf-8") as f:
            out.append([name, f.read(), False])
    return out


@lru_cache(maxsize=1)
def reader_hash() -> str:
    """Names the reader's folder on a host: a new version of the reader gets a new folder."""
    return hashlib.sha256(json.dumps(_sources()).encode()).hexdigest()[:16]


def payload(
    sessions: Iterable[SessionRecord], now_ms: int, idle_threshold_s: float, *, with_reader: bool = False
) -> bytes:
    """What the host's ``python3 -c BOOT`` reads on stdin to introspect ``sessions`` (and the reader's source,
    ``with_reader``)."""
    from .opencode import bindings_of

    sessions = list(sessions)
    call = {
        "sessions": [s.id for s in sessions],
        "now_ms": now_ms,
        "idle": idle_threshold_s,
        "bindings": [
            {
                "ao_id": b.ao_id,
                "directory": b.directory,
                "created_ms": b.created_ms,
                "opencode_session_id": b.opencode_session_id,
                "state": b.state.to_json() if b.state is not None else None,
            }
            for b in bindings_of(sessions)
        ],
    }
    return json.dumps({"modules": _sources() if with_reader else None, "call": call}).encode()


def session_files(state_dir: str, names: list[str]) -> dict[str, list[Any]]:  # runs on the host
    """Per session folder of ``state_dir``: ``[exit code or None, whether its launch script still runs]``.

    The script runs when the PID it wrote is alive (not a zombie: those have no command line)
    and names a file of that folder, as :func:`ao_server.runtimes.common.script_pid` checks here.
    """
    out: dict[str, list[Any]] = {}
    for name in names:
        folder = os.path.join(state_dir, "sessions", name)
        code: int | None = None
        alive = False
        try:
            with open(os.path.join(folder, "exit_code")) as f:
                code = int(f.read().strip())
        except (OSError, ValueError):
            pass
        try:
            with open(os.path.join(folder, "pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            alive = any(a.startswith(os.fsencode(folder) + b"/") for a in argv)
        except (OSError, ValueError):
            pass
        out[name] = [code, alive]
    return out


def remote_main(call: dict[str, Any], state_dir: str) -> None:  # runs on the host
    """The sessions' files, and their bindings read from this host's OpenCode database; print one JSON line."""
    from .opencode_db import Binding, EventState, IntrospectionUnavailable, OpenCodeDB, default_db_path

    files = session_files(state_dir, [str(n) for n in call.get("sessions") or []])

    bindings = [
        Binding(
            ao_id=b["ao_id"],
            directory=b["directory"],
            created_ms=b["created_ms"],
            opencode_session_id=b["opencode_session_id"],
            state=EventState.from_json(b["state"]) if b["state"] else None,
        )
        for b in call["bindings"]
    ]
    try:
        db = OpenCodeDB(default_db_path(os.environ), idle_threshold_s=float(call["idle"]))
        infos = db.read(bindings, now_ms=int(call["now_ms"]))
    except IntrospectionUnavailable as e:
        print(json.dumps({"files": files, "error": str(e), "transient": e.transient}))
        return
    print(
        json.dumps(
            {
                "files": files,
                "infos": {
                    ao_id: {
                        "opencode_session_id": i.opencode_session_id,
                        "title": i.title,
                        "cost_usd": i.cost_usd,
                        "tokens": i.tokens,
                        "activity": str(i.activity.value),
                        "last_activity_ms": i.last_activity_ms,
                        "outcome": i.outcome,
                        "summary": i.summary,
                        "state": i.state.to_json(),
                    }
                    for ao_id, i in infos.items()
                },
            }
        )
    )


class ReaderMissing(Exception):
    """The host has no copy of this version of the reader (deleted meanwhile): send it with the next read."""


Files = dict[str, tuple[int | None, bool]]


def decode(text: str, sessions: list[SessionRecord], host: str) -> tuple[dict[str, Introspection], Files, str | None]:
    """The host's answer: introspection per session id, the sessions' files (exit code, script alive), and
    why introspection is unavailable (None when it is not). Raises AoError when the answer is unusable."""
    from ..errors import AoError
    from ..model import Introspection
    from .opencode import introspection_of
    from .opencode_db import EventState, SessionInfo

    try:
        data = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        said = text.strip().splitlines()[-1][:300] if text.strip() else "nothing"
        raise AoError(f"introspection unavailable on host {host}: its reader said {said!r} (is python3 installed?)")
    if data.get("need") == "reader":
        raise ReaderMissing(f"host {host}: its copy of ao's reader was gone; sending it again")
    files: Files = {}
    for name, v in (data.get("files") or {}).items():
        if isinstance(v, list) and len(v) == 2:
            files[str(name)] = (v[0] if isinstance(v[0], int) and not isinstance(v[0], bool) else None, v[1] is True)
    if "error" in data:
        if data.get("transient"):
            why = str(data["error"])
            stale = {
                s.id: Introspection(opencode_session_id=s.opencode_session_id, stale=True, stale_reason=why)
                for s in sessions
            }
            return stale, files, None
        return {}, files, f"introspection unavailable on host {host}: {data['error']}"
    out: dict[str, Introspection] = {}
    for ao_id, i in (data.get("infos") or {}).items():
        info = SessionInfo(
            opencode_session_id=str(i["opencode_session_id"]),
            title=str(i.get("title") or ""),
            cost_usd=float(i.get("cost_usd") or 0.0),
            tokens=dict(i.get("tokens") or {}),
            activity=Activity(i["activity"]),
            last_activity_ms=int(i.get("last_activity_ms") or 0),
            outcome=i.get("outcome"),
            summary=dict(i.get("summary") or {}),
            state=EventState.from_json(i.get("state")),
        )
        out[ao_id] = introspection_of(info)
    return out, files, None
