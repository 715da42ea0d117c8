"""A Python backend publishing to `tidings serve` with the typed publisher generated from the
schemas (`tidings generate --python DIR`): what a Django or FastAPI app does, run by
clients/ts/test/serve.test.ts, which checks that TypeScript clients receive the events by the
declared rules.

    python publish.py URL API_KEY TENANT USER

Publishes `ticket:created` for a ticket of TENANT assigned to USER (titled "From Python"), and
again with the same idempotency key (published once), then a batch of one `ticket:updated`, and
`ticket:statusChanged` from asyncio; checks that a malformed payload is refused with the field's
path; prints one JSON line of what it saw. `events` (the generated package) must be on the
path (PYTHONPATH).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from events import ticket
from events.publisher import AsyncPublisher, PublishError, Publisher, item


def a_ticket(tenant: str, assignee: str, title: str) -> ticket.Ticket:
    return ticket.Ticket(
        id="7e000000-0000-4000-8000-0000000000f1",
        tenant_id=tenant,
        title=title,
        status="open",
        priority="normal",
        created_by="f0000000-0000-4000-8000-0000000000f1",
        assignee_id=assignee,
        participant_ids=[],
        tags=["python"],
        created_at="2026-12-02T10:00:00Z",
        updated_at="2026-12-02T10:00:00Z",
    )


def main(url: str, api_key: str, tenant: str, user: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    actor = "f0000000-0000-4000-8000-0000000000f1"
    with Publisher(url, api_key) as publisher:
        # A retry with the same idempotency key publishes nothing more: the first answer again.
        key = f"python-created-{uuid.uuid4()}"
        payload = ticket.Created(ticket=a_ticket(tenant, user, "From Python"), actor_id=actor)
        created = publisher.publish(ticket.TICKET_CREATED, payload, idempotency_key=key)
        retried = publisher.publish(ticket.TICKET_CREATED, payload, idempotency_key=key)
        seen["created"] = created.id if retried == created else None
        try:
            publisher.publish(
                ticket.TICKET_CREATED,
                ticket.Created(ticket=a_ticket(tenant, user, "x" * 201), actor_id=actor),
            )
            seen["refused"] = None
        except PublishError as e:
            seen["refused"] = {"status": e.status, "code": e.code, "path": e.path}
        batch = publisher.publish_batch(
            [
                item(
                    ticket.TICKET_UPDATED,
                    ticket.Updated(ticket=a_ticket(tenant, user, "From Python, renamed"), changed=["title"], actor_id=actor),
                )
            ]
        )
        seen["batch"] = len(batch)

    async def from_asyncio() -> str:
        async with AsyncPublisher(url, api_key) as publisher:
            published = await publisher.publish(
                ticket.TICKET_STATUS_CHANGED,
                ticket.StatusChanged(
                    ticket=a_ticket(tenant, user, "From Python, renamed"), previous_status="open", actor_id=actor
                ),
            )
            return published.id

    seen["async"] = asyncio.run(from_asyncio())
    try:
        with Publisher("http://127.0.0.1:9", api_key, timeout=2) as away:
            away.publish(ticket.TICKET_CREATED, ticket.Created(ticket=a_ticket(tenant, user, "lost"), actor_id=actor))
    except PublishError as e:
        seen["away"] = e.code
    return seen


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
