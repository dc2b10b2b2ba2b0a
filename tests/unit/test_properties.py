"""Property tests: parse_spec is total over JSON-shaped input (SpecError or a spec) and accepted specs
always build well-formed children."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from modeldeploy.config import default_config
from modeldeploy.desired import build_children
from modeldeploy.spec import SpecError, parse_spec
from tests.support.spec_strategies import json_values, names, specs

CONFIG = default_config()


def check(name: Any, spec: Any) -> None:
    try:
        md = parse_spec(name, "vision", spec, CONFIG)
    except SpecError as error:
        assert error.field and error.message and error.fix
        return
    for child in build_children(md, CONFIG):
        assert isinstance(child, dict)
        assert isinstance(child["apiVersion"], str) and isinstance(child["kind"], str)
        assert child["metadata"]["name"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names, specs)
def test_structured_random_specs_either_parse_and_build_or_raise_spec_error(name: Any, spec: Any) -> None:
    check(name, spec)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_spec_error(spec: Any) -> None:
    check("resnet", spec)
