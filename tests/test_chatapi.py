"""The helpers chat channels share (nmcore.chatapi) and the URL-path credential hiding they rely on."""

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nmcore.chatapi import PART_ROOM, AlertFacts, Destination, ResumingPoster, paginate, requested_wait
from nmcore.httpfailures import UrlRedactor, redact_url_secrets
from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.splitting import utf16_len
from nmcore.testing import alert

PART = re.compile(r"^\(part \d+/\d+\)\n")

paragraphs = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=300),
                      min_size=1, max_size=30)


def squeeze(text: str) -> str:
    return "".join(text.split())


@given(paragraphs, st.integers(min_value=PART_ROOM + 8, max_value=2000), st.sampled_from([len, utf16_len]))
def test_paginate_keeps_everything_in_order_within_the_limit(parts, limit, measure):
    text = "\n\n".join(parts)
    pieces = paginate(text, limit, measure)
    assert all(measure(piece) <= limit for piece in pieces)
    assert squeeze("".join(PART.sub("", p) for p in pieces)) == squeeze(text) if len(pieces) > 1 else pieces == [text]


def test_paginate_numbers_the_parts_and_keeps_a_paragraph_whole_when_it_fits():
    alerts = [f"[FIRING] alert {i}\n  pod = pod-{i}" for i in range(40)]
    pieces = paginate("\n\n".join(alerts), 200)
    assert [p.splitlines()[0] for p in pieces] == [f"(part {i}/{len(pieces)})" for i in range(1, len(pieces) + 1)]
    for block in alerts:
        assert sum(block in piece for piece in pieces) == 1


def test_requested_wait_takes_the_longest_of_header_and_body():
    assert requested_wait({"retry-after": "3"}, 1.5) == 3.0
    assert requested_wait({}, 0.25, None, "soon", True) == 0.25
    assert requested_wait({}) is None


@pytest.mark.parametrize(("url", "hidden"), [
    ("https://api.telegram.org/bot123456789:AAE-abcdefghijklmnop/sendMessage", "/<redacted>/sendMessage"),
    ("https://discord.com/api/webhooks/1045315993465012244/Jb0oFOjVzdRWlHfTEd?wait=true",
     "/webhooks/<redacted>/<redacted>?wait=<redacted>"),
])
def test_path_credentials_are_hidden_in_urls_and_in_log_records(url, hidden):
    assert redact_url_secrets(f"POST {url}").endswith(hidden)
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s", (url,), None)
    UrlRedactor().filter(record)
    assert record.getMessage().endswith(hidden)


def test_alert_facts_show_the_headline_annotation_once():
    facts = AlertFacts.of(alert("firing", {"summary": "disk full", "runbook_url": "https://rb"}, rule_id="r1",
                                namespace="demo"))
    assert facts.headline == "[FIRING] TestAlert: disk full"
    assert facts.labels == (("namespace", "demo"),)
    assert facts.annotations == (("runbook_url", "https://rb"),)
    assert facts.since == "2026-11-24 05:53:21 UTC"


class Chat:
    """A destination that fails as scripted: `plan[i]` is the error for the i-th post, or None."""

    def __init__(self, name: str, plan: dict[int, Exception] | None = None):
        self.name, self.plan, self.got, self.calls = name, plan or {}, [], 0

    async def post(self, message: str) -> None:
        self.calls += 1
        error = self.plan.pop(self.calls, None)
        if error is not None:
            raise error
        self.got.append(message)


@pytest.mark.anyio
async def test_a_retry_resumes_each_destination_where_it_stopped():
    poster = ResumingPoster()
    first, second = Chat("a", {3: TransientError("slow down", retry_after=2)}), Chat("b")
    destinations = [Destination(c.name, c.post) for c in (first, second)]
    with pytest.raises(TransientError, match=r"slow down \(after 2 of 4 messages were posted\)") as caught:
        await poster.deliver("n1", destinations, ["m1", "m2", "m3", "m4"])
    assert caught.value.retry_after == 2
    assert await poster.deliver("n1", destinations, ["m1", "m2", "m3", "m4"]) is None
    assert first.got == second.got == ["m1", "m2", "m3", "m4"]
    assert await poster.deliver("n1", destinations, ["m1"]) is None  # delivered: forgotten, a new send
    assert first.got[-1] == "m1"


@pytest.mark.anyio
async def test_some_destinations_failing_for_good_are_warnings_all_of_them_an_error():
    poster = ResumingPoster()
    good, bad = Chat("a"), Chat("b", {1: PermanentError("chat not found")})
    report = await poster.deliver("n", [Destination("a", good.post), Destination("b", bad.post)], ["m"])
    assert report == SendReport(warnings=("chat not found",))
    with pytest.raises(PermanentError, match="gone"):
        await poster.deliver("n2", [Destination("b", Chat("b", {1: PermanentError("gone")}).post)], ["m"])


def test_a_destination_repr_never_shows_what_it_posts_with():
    async def post(message: str, token: str = "s3cret") -> None: ...

    assert "s3cret" not in repr(Destination("chat 1", post))
