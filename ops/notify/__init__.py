"""Incident notifications to PagerDuty and Slack, through an outbox in the incident store.

Queue in the transaction that changes the incident, deliver after it commits::

    with transaction(engine) as session:
        opened = trigger(session, t)
        enqueue(session, opened.incident, "trigger")
    deliver_soon(engine)

:func:`~ops.notify.outbox.enqueue` only inserts rows, so an unreachable
PagerDuty never loses an incident; :func:`~ops.notify.background.deliver_soon`
makes one bounded attempt (about a second at most, whatever the channels do)
and leaves the rest to a background deliverer, which sends each row once, in
order, retrying 429/5xx with backoff and ``Retry-After``.
:func:`~ops.notify.delivery.deliver_pending` is one delivery pass
(``ops notify flush``). Which process delivers what is described in
:mod:`ops.notify.background`; settings in :mod:`sluice.settings.notify`
(``get_settings().notify``).
"""

from ops.notify.background import deliver_soon, ensure_background
from ops.notify.delivery import DeliveryReport, Outcome, deliver_pending
from ops.notify.messages import Action
from ops.notify.outbox import enqueue, list_notifications

__all__ = [
    "Action",
    "DeliveryReport",
    "Outcome",
    "deliver_pending",
    "deliver_soon",
    "enqueue",
    "ensure_background",
    "list_notifications",
]
