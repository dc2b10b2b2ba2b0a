"""Messages written to status and Events fit the API server's limits and keep their start and end."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.messages import CONDITION_MESSAGE_MAX, EVENT_MESSAGE_MAX, bounded


def test_short_messages_are_unchanged() -> None:
    assert bounded("spec.env[0].name: bad", EVENT_MESSAGE_MAX) == "spec.env[0].name: bad"


def test_long_message_keeps_field_path_and_fix() -> None:
    text = "spec.template.spec.containers[0].env[3].value: " + "x" * 100_000 + " (use a Secret)"
    out = bounded(text, CONDITION_MESSAGE_MAX)
    assert len(out) <= CONDITION_MESSAGE_MAX
    assert out.startswith("spec.template.spec.containers[0].env[3].value: xxx")
    assert out.endswith("xxx (use a Secret)")
    assert "characters cut" in out


@given(text=st.text(min_size=0, max_size=5000), limit=st.integers(min_value=1, max_value=3000))
def test_every_message_fits(text: str, limit: int) -> None:
    out = bounded(text, limit)
    assert len(out) <= limit
    assert out == text or len(text) > limit
