"""Incident notifications to PagerDuty and Slack, through an outbox in the incident store.

Queue in the transaction that changes the incident, deliver after it commits::

    with transaction(engine) as session:
        opened = trigger(session, t)
        enqueue(session, opened.incident, "trigger")
    deliver_pending(engine)

:func:`~ops.notify.outbox.enqueue` only inserts rows, so an unreachable
PagerDuty never blocks or loses an incident; :func:`~ops.notify.delivery.deliver_pending`
sends each row once, retries 429/5xx with backoff and ``Retry-After``, and
leaves what still fails in the outbox for the next call (``ops notify flush``).
Settings are described in :mod:`ops.notify.settings`.
"""

from ops.notify.delivery import DeliveryReport, Outcome, deliver_pending
from ops.notify.messages import Action
from ops.notify.outbox import enqueue, list_notifications
from ops.notify.settings import NotifySettings

__all__ = ["Action", "DeliveryReport", "NotifySettings", "Outcome", "deliver_pending", "enqueue",
           "list_notifications"]
