"""gRPC server-streaming services as sources: a YAML description, stubs built from the service's ``.proto``.

:mod:`~sluice.sources.grpc.spec` is the description, :mod:`~sluice.sources.grpc.stubs` the message
classes and method compiled from the ``.proto`` at run time, :mod:`~sluice.sources.grpc.stream` the
call (deadlines, retries, resume tokens), and :mod:`~sluice.sources.grpc.sync` the messages batched,
validated and committed with the last resume token of each batch.
"""
