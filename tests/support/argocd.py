"""Argo CD's view of a ModelDeployment: argocd/health.lua run by a Lua 5.1 interpreter as Argo CD's
gopher-lua runs it, and the captured objects it is tested on (tests/fixtures/argocd/)."""

from __future__ import annotations

from typing import Any, cast

from lupa import lua51

from tests.support.paths import ROOT

HEALTH_LUA = ROOT / "argocd" / "health.lua"
CM_PATCH = ROOT / "argocd" / "argocd-cm-patch.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
HEALTH_KEY = "resource.customizations.health.serving.modeldeploy.io_ModelDeployment"


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run health.lua the way Argo CD does: the live object in the global `obj`, a table returned."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    runtime.globals()["obj"] = runtime.table_from(obj, recursive=True)
    result = runtime.execute(HEALTH_LUA.read_text())
    assert lua51.lua_type(result) == "table", f"health.lua returned {result!r}, not a table"
    hs = dict(cast(Any, result).items())
    return str(hs["status"]), str(hs["message"])
