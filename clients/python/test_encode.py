"""The JSON the generated payload classes encode to (a union variant's tag first, `None` as
`null`, nested classes, lists and maps walked, a bounded depth), and back (`decode`). Run by ./scripts/test with
the generated package on the path (PYTHONPATH=target/py/gen)."""

from __future__ import annotations

import json
import typing

from events import _tidings, chat, decode, encode, ticket


def test_a_union_variant_writes_its_tag_first() -> None:
    body = chat.MessageBodyImage(url="https://x/y.png", width=2, height=3)
    assert json.dumps(encode(body)) == '{"type": "image", "url": "https://x/y.png", "width": 2, "height": 3, "alt": null}'
    assert encode(chat.MessageBodyDeleted()) == {"type": "deleted"}


def test_nested_classes_and_lists_are_walked() -> None:
    message = chat.Message(
        message=chat.ChatMessage(
            id="i", chat_id="c", tenant_id="t", sender_id="s",
            body=chat.MessageBodyText(text="hi"), sent_at="2026-12-02T10:00:00Z",
        )
    )
    assert encode(message) == {
        "message": {
            "id": "i", "chat_id": "c", "tenant_id": "t", "sender_id": "s",
            "body": {"type": "text", "text": "hi"}, "client_id": None,
            "sent_at": "2026-12-02T10:00:00Z", "edited_at": None,
        }
    }
    assert ticket.TICKET_CREATED.name == "ticket:created"
    assert str(chat.CHAT_SEND_MESSAGE) == "chat:sendMessage"


def test_decode_builds_the_classes_back() -> None:
    message = chat.Message(
        message=chat.ChatMessage(
            id="i", chat_id="c", tenant_id="t", sender_id="s",
            body=chat.MessageBodyImage(url="u", width=1, height=2), sent_at="2026-12-02T10:00:00Z",
            client_id="k",
        )
    )
    assert decode(chat.Message, encode(message)) == message
    # What the handler proxy POSTs as `data`: the variant picked by its tag; absent optionals None.
    sent = decode(chat.SendMessage, {"chat_id": "c", "body": {"type": "text", "text": "hi"}})
    assert sent == chat.SendMessage(chat_id="c", body=chat.MessageBodyText(text="hi"))
    created = decode(ticket.Created, json.loads(json.dumps(encode(ticket.Created(
        ticket=ticket.Ticket(
            id="i", tenant_id="t", title="x", status="open", priority="low", created_by="c",
            participant_ids=["p"], tags=[], created_at="2026-12-02T10:00:00Z", updated_at="2026-12-02T10:00:00Z",
        ),
        actor_id="a",
    )))))
    assert created.ticket.participant_ids == ["p"] and created.ticket.description is None
    for bad, where in [({"chat_id": "c"}, "`body` is missing"), ({"chat_id": "c", "body": {"type": "video"}}, "no variant")]:
        try:
            decode(chat.SendMessage, bad)
        except ValueError as e:
            assert where in str(e), e
        else:
            raise AssertionError(f"decoded {bad}")


def test_a_payload_json_cannot_hold_is_a_publish_error() -> None:
    from events.publisher import Publisher, PublishError

    with Publisher("http://127.0.0.1:9", "key") as publisher:
        for bad in [float("nan"), float("inf")]:
            payload = chat.Message(
                message=chat.ChatMessage(
                    id="i", chat_id="c", tenant_id="t", sender_id="s",
                    body=chat.MessageBodyText(text="x"), sent_at="s",
                )
            )
            payload.message.body = typing.cast(chat.MessageBody, {"type": "text", "text": bad})
            try:
                publisher.publish(chat.CHAT_MESSAGE, payload)
            except PublishError as e:
                assert (e.status, e.code) == (0, "invalid_payload"), e
            else:
                raise AssertionError("published NaN")


def test_a_cycle_is_refused_not_a_crash() -> None:
    loop: list[object] = []
    loop.append(loop)
    try:
        encode(loop)
    except ValueError as e:
        assert str(_tidings.MAX_DEPTH) in str(e)
    else:
        raise AssertionError("encoded a cycle")


if __name__ == "__main__":
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print(f"ok - {name}")
