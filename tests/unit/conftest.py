"""Fixtures of the CRD tests (test_crd.py, test_crd_cel.py): the document, its one version, its schema."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.crd_schema import CRD_PATH, Schema


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(CRD_PATH.read_text()) if d]
    assert len(docs) == 1
    return dict(docs[0])


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    return dict(versions[0])


@pytest.fixture(scope="module")
def root(version: dict[str, Any]) -> Schema:
    return dict(version["schema"]["openAPIV3Schema"])
