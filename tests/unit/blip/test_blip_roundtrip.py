"""Round trips between two codecs: whatever one side sends, the other receives unchanged."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.blip import BlipConnection, BlipEvent, ErrorResponse, Request, Response

# Property text: anything UTF-8 encodable without NUL.
prop_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
properties = st.dictionaries(prop_text, prop_text, max_size=6)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Mostly small bodies; sometimes large ones (compressible or not) up to ~300 KB."""
    kind = draw(st.sampled_from(["small", "small", "small", "repetitive", "random"]))
    if kind == "small":
        return draw(st.binary(max_size=600))
    size = draw(st.integers(min_value=10_000, max_value=300_000))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if kind == "random":
        return rng.randbytes(size)
    words = [rng.randbytes(rng.randint(1, 12)) for _ in range(20)]
    return b"".join(rng.choice(words) for _ in range(size // 6))[:size]


@dataclass
class Outgoing:
    properties: dict[str, str]
    body: bytes
    compress: bool
    urgent: bool
    no_reply: bool
    reply: str  # "rpy" or "err"
    reply_body: bytes
    reply_compress: bool


outgoing = st.builds(
    Outgoing,
    properties=properties,
    body=bodies(),
    compress=st.booleans(),
    urgent=st.booleans(),
    no_reply=st.booleans(),
    reply=st.sampled_from(["rpy", "err"]),
    reply_body=st.one_of(st.binary(max_size=200), bodies()),
    reply_compress=st.booleans(),
)

slow = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected_reply(number: int, msg: Outgoing) -> BlipEvent:
    if msg.reply == "rpy":
        return Response(number, dict(msg.properties), msg.reply_body)
    message = msg.reply_body.decode("utf-8", "replace")
    props = {"Error-Domain": "HTTP", "Error-Code": str(400 + number)}
    return ErrorResponse(number, "HTTP", 400 + number, message, props)


@slow
@given(
    a_to_b=st.lists(outgoing, max_size=8),
    b_to_a=st.lists(outgoing, max_size=8),
    max_frame_payload=st.sampled_from([64, 1000, 4086, 16374, 40_000]),
    compression_level=st.integers(0, 9),
)
def test_everything_sent_arrives_unchanged(
    make_pair: Callable[..., Any],
    a_to_b: list[Outgoing],
    b_to_a: list[Outgoing],
    max_frame_payload: int,
    compression_level: int,
) -> None:
    pair = make_pair(max_frame_payload=max_frame_payload, compression_level=compression_level)
    sent: dict[int, dict[int, Outgoing]] = {id(pair.a): {}, id(pair.b): {}}
    for src, script in ((pair.a, a_to_b), (pair.b, b_to_a)):
        for msg in script:
            number = src.send_request(
                msg.properties, msg.body, no_reply=msg.no_reply, urgent=msg.urgent, compress=msg.compress
            )
            sent[id(src)][number] = msg
        assert list(sent[id(src)]) == list(range(1, len(script) + 1))

    def answer(receiver: BlipConnection, event: BlipEvent) -> None:
        # Reply as soon as a request arrives, while other frames are still in flight.
        if not isinstance(event, Request) or event.no_reply:
            return
        origin = sent[id(pair.a if receiver is pair.b else pair.b)][event.number]
        if origin.reply == "rpy":
            receiver.send_response(
                event.number, origin.properties, origin.reply_body, compress=origin.reply_compress
            )
        else:
            receiver.send_error(
                event.number,
                code=400 + event.number,
                domain="HTTP",
                message=origin.reply_body.decode("utf-8", "replace"),
            )

    pair.pump(answer)

    assert pair.a.outgoing_backlog == 0
    assert pair.b.outgoing_backlog == 0
    for src, received in ((pair.a, pair.b_events), (pair.b, pair.a_events)):
        script = sent[id(src)]
        other = sent[id(pair.b if src is pair.a else pair.a)]
        requests = {e.number: e for e in received if isinstance(e, Request)}
        replies = {e.number: e for e in received if not isinstance(e, Request)}
        assert len(requests) + len(replies) == len(received)  # nothing delivered twice
        assert requests == {
            n: Request(n, m.properties, m.body, no_reply=m.no_reply, urgent=m.urgent)
            for n, m in script.items()
        }
        assert replies == {n: expected_reply(n, m) for n, m in other.items() if not m.no_reply}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(
        st.tuples(properties, st.binary(max_size=3000), st.booleans()), min_size=1, max_size=20
    ),
)
def test_many_small_interleaved_requests_keep_numbers_and_order(
    make_pair: Callable[..., Any], messages: list[tuple[dict[str, str], bytes, bool]]
) -> None:
    pair = make_pair(max_frame_payload=256)
    for props, body, compress in messages:
        pair.a.send_request(props, body, compress=compress, urgent=len(body) % 2 == 1)
    pair.pump()
    got = {e.number: (e.properties, e.body) for e in pair.b_events if isinstance(e, Request)}
    assert got == {i: (p, b) for i, (p, b, _) in enumerate(messages, start=1)}


def test_large_properties_spill_across_frames(pair) -> None:
    props = {"Profile": "rev", "big": "é" * 40_000, "small": "x"}
    for compress in (False, True):
        pair.a.send_request(props, b"body", compress=compress)
    pair.pump()
    assert pair.b_events == [Request(1, props, b"body"), Request(2, props, b"body")]
    assert pair.frames >= 10


def test_empty_and_default_replies(pair) -> None:
    pair.a.send_request({})
    pair.a.send_request({"Profile": "x"}, compress=True)
    pair.pump()
    assert pair.b_events == [Request(1, {}), Request(2, {"Profile": "x"})]
    pair.b.send_response(2, compress=True)
    pair.b.send_error(1, code=404)
    pair.pump()
    assert pair.a_events == [
        Response(2, {}, b""),
        ErrorResponse(1, "BLIP", 404, "", {"Error-Domain": "BLIP", "Error-Code": "404"}),
    ]


def test_a_1kb_compressed_rev_shrinks_on_the_wire(pair) -> None:
    body = b'{"_id":"doc","channels":["a","b"],"value":"' + b"abcdefgh" * 120 + b'"}'
    pair.a.send_request({"Profile": "rev", "id": "doc", "rev": "1-abc"}, body, compress=True)
    (frame,) = pair.a.data_to_send()
    assert frame[1] == 0x08
    assert len(frame) < len(body) // 3
    assert pair.b.receive_frame(frame) == [Request(1, {"Profile": "rev", "id": "doc", "rev": "1-abc"}, body)]
