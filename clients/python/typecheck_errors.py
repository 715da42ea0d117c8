"""Mistakes the generated classes catch before anything runs: each line below is an error
under `mypy --strict`, and `# type: ignore[code]` says which. mypy's `warn_unused_ignores`
(part of --strict) fails the check if one of them is not an error any more: the Python twin
of TypeScript's `@ts-expect-error`."""

from __future__ import annotations

from events import chat, ticket
from events.publisher import Publisher, item


def mistakes(publisher: Publisher, t: ticket.Ticket) -> None:
    # A payload of another event (mypy: no payload class fits both).
    publisher.publish(ticket.TICKET_CREATED, ticket.Deleted(ticket_id="", tenant_id="", created_by="", participant_ids=[], actor_id=""))  # type: ignore[misc]
    # A misspelt field.
    ticket.Created(tiket=t, actor_id="")  # type: ignore[call-arg]
    # A value outside a closed enum.
    ticket.StatusChanged(ticket=t, previous_status="reopened", actor_id="")  # type: ignore[arg-type]
    # An event clients send cannot be published.
    publisher.publish(chat.CHAT_SEND_MESSAGE, chat.SendMessage(chat_id="", body=chat.MessageBodyText(text="hi")))  # type: ignore[arg-type]
    # A union variant's tag is fixed by its class.
    chat.MessageBodyText(type="image", text="hi")  # type: ignore[arg-type]
    # A batch item typed by its event.
    item(ticket.TICKET_UPDATED, ticket.Created(ticket=t, actor_id=""))  # type: ignore[misc]
