"""Property: every spec the pure validator accepts renders children the real API server accepts
(server-side dry run into a namespace enforcing PodSecurity restricted). The strategies are the pure
property test's (tests/unit/test_properties.py); this adds the API server's verdict for 25 examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from modeldeploy.config import default_config
from modeldeploy.desired import build_children
from modeldeploy.kube import object_path
from modeldeploy.spec import SpecError, parse_spec
from tests.support.clusters import make_namespace
from tests.support.kubeapi import RawApi
from tests.support.kubectl import Kube
from tests.support.spec_strategies import specs

CONFIG = default_config()


@pytest.fixture(scope="module")
def dry_run_namespace(kube: Kube) -> str:
    return make_namespace(kube, prefix="dryrun")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs)
def test_accepted_specs_render_objects_the_api_server_accepts(
    api: RawApi, dry_run_namespace: str, spec: Any
) -> None:
    try:
        md = parse_spec("prop", dry_run_namespace, spec, CONFIG)
    except SpecError:
        return
    for obj in build_children(md, CONFIG):
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        status, answer = api.apply(path, obj, dry_run=True)
        assert status in (200, 201), f"spec {spec!r}\n{obj['kind']} rejected: {answer.get('message', answer)}"
