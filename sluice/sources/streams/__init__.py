"""Stream sources: Kafka topics, Redis Streams and RabbitMQ queues into the lake in micro-batches, exactly once.

One interface (:class:`sluice.sources.streams.base.StreamSource`) for every
broker: poll a micro-batch bounded by records, bytes and time, acknowledge
it after its lake commit, pause and resume. A micro-batch is decoded into the
contract's columns (:mod:`~sluice.sources.streams.decode`), validated, and
committed with its positions (a queue's: its messages' idents) in the same Delta commit
(:mod:`~sluice.sources.streams.sink`); the broker's offsets move only after
that (:mod:`~sluice.sources.streams.consume`). A restart resumes from the
positions the lake records.
"""
