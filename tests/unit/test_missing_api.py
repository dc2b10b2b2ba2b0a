"""Apply failures on an API the cluster does not serve name the component that would serve it."""

from __future__ import annotations

import pytest

from modeldeploy.missing_api import missing_api_message

UNKNOWN = "the server could not find the requested resource"
PATH = "/apis/keda.sh/v1alpha1/namespaces/vision/scaledobjects/resnet"


@pytest.mark.parametrize("reason", [UNKNOWN, "404 page not found\n"])
def test_a_missing_keda_api_names_keda_the_setting_and_the_fix(reason: str) -> None:
    message = missing_api_message(404, PATH, reason)
    assert message is not None
    assert "KEDA is not installed" in message
    assert "autoscaling.requestRate.provider" in message and "spec.autoscaling.requestsPerSecond" in message
    assert "left as they were" in message


def test_other_failures_keep_the_api_servers_words() -> None:
    # A missing object (not a missing type), another status, another group.
    assert missing_api_message(404, PATH, 'scaledobjects.keda.sh "resnet" not found') is None
    assert missing_api_message(403, PATH, UNKNOWN) is None
    assert missing_api_message(404, "/apis/example.com/v1/namespaces/v/things/x", UNKNOWN) is None
