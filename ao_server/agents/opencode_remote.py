"""OpenCode's database on a remote host, read by the same reader as here, run there.

A status tick of a host sends, on the stdin of its one ssh command, a JSON document
holding the source of the modules the reader needs (:data:`SHIPPED`: the stdlib-only
database reader, its schema checks and event replay, and the model types they name)
and the sessions to read. :data:`BOOT`, a constant few lines run by ``python3 -c``
on the host, loads those modules from the document and calls :func:`remote_main`,
which prints one JSON line. Nothing is installed on the host, nothing is written
there, and the database is opened read-only exactly as it is here
(:mod:`ao_server.agents.opencode_db`), so both always read it the same way.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from ..model import Activity, Introspection, SessionRecord

#: Modules the reader needs, parents first (packages are sent empty).
SHIPPED = (
    ("ao_server", True),
    ("ao_server.errors", False),
    ("ao_server.sessiondir", False),
    ("ao_server.model", False),
    ("ao_server.agents", True),
    ("ao_server.agents.opencode_schema", False),
    ("ao_server.agents.opencode_events", False),
    ("ao_server.agents.opencode_db", False),
    ("ao_server.agents.opencode_remote", False),
)

#: Run on the host as ``python3 -c BOOT``: load the shipped modules from stdin, then read.
BOOT = (
    "import json,sys,types\n"
    "d=json.load(sys.stdin)\n"
    "for n,src,pkg in d['modules']:\n"
    " m=types.ModuleType(n);m.__package__=n if pkg else n.rpartition('.')[0]\n"
    " if pkg:m.__path__=[]\n"
    " sys.modules[n]=m;exec(compile(src,'<ao:'+n+'>','exec'),m.__dict__)\n"
    "sys.modules['ao_server.agents.opencode_remote'].remote_main(d['call'])\n"
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


def payload(sessions: Iterable[SessionRecord], now_ms: int, idle_threshold_s: float) -> bytes:
    """What the host's ``python3 -c BOOT`` reads on stdin to introspect ``sessions``."""
    from .opencode import bindings_of

    call = {
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
            for b in bindings_of(list(sessions))
        ],
    }
    return json.dumps({"modules": _sources(), "call": call}).encode()


def remote_main(call: dict[str, Any]) -> None:  # runs on the host
    """Read the bindings of ``call`` from this host's OpenCode database; print one JSON line."""
    from .opencode_db import Binding, EventState, IntrospectionUnavailable, OpenCodeDB, default_db_path

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
        print(json.dumps({"error": str(e), "transient": e.transient}))
        return
    print(
        json.dumps(
            {
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
                }
            }
        )
    )


def decode(text: str, sessions: list[SessionRecord], host: str) -> dict[str, Introspection]:
    """The host's answer as introspection per session id; raises AoError when it could not read."""
    from ..errors import AoError
    from .opencode import introspection_of
    from .opencode_db import EventState, SessionInfo

    try:
        data = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        said = text.strip().splitlines()[-1][:300] if text.strip() else "nothing"
        raise AoError(f"introspection unavailable on host {host}: its reader said {said!r} (is python3 installed?)")
    if "error" in data:
        if data.get("transient"):
            why = str(data["error"])
            return {
                s.id: Introspection(opencode_session_id=s.opencode_session_id, stale=True, stale_reason=why)
                for s in sessions
            }
        raise AoError(f"introspection unavailable on host {host}: {data['error']}")
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
    return out
