# agentbus - agents for the agentbus broker (ABP/1) on pyzmq
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Agents for the agentbus broker on pyzmq alone (numpy optional, for
tensors).

ABP/1 is plain ZeroMQ frames, ASCII command words and JSON, so any binding
can be an agent; this package is the one for Python.  One ``Agent`` is one
*instance*: one DEALER socket connected to the broker's ROUTER endpoint::

    import agentbus
    bus = agentbus.Agent("tcp://127.0.0.1:7780", "retriever")
    bus.publish("retrieval.context", {"query": "q", "passages": []})

    worker = agentbus.Agent("tcp://127.0.0.1:7780", "reasoner", credit=4)
    d = worker.receive(timeout_ms=1000)     # a Delivery, or None
    if d is not None:
        handle(d.payload)
        d.ack()

``agentbus.Agent`` is synchronous, with no hidden threads;
``agentbus.aio.Agent`` is the same agent on asyncio.

Errors are exceptions, all under ``AgentbusError``: ``Rejected`` (a
``REJECT``: code, message, errors), ``ProtocolError`` (an ``ERROR`` from
the broker, or a broker message that breaks the frame table), ``Timeout``
(no answer in time), ``Closed`` (the agent was closed) and
``SessionLost`` (a streamed reply cut by a broker restart) and
``KeyFileError`` (a CURVE key file that cannot be read).

CURVE: ``Agent(..., key="me.key_secret", server_key="broker.key")``
reads czmq certificate files (``security.md``).

Tensors: any numpy array placed in a payload is sent as an attachment and
replaced by its reference ``{"dtype", "shape", "frame"}``; arrays of at
least 64 KiB are sent without copying when they are already little-endian
and C-contiguous.  On the receiving side ``Delivery.attachments`` are
memoryviews over the received frames and ``Delivery.tensor(ref)`` views
one as a numpy array, without copying.
"""

from ._proto import (NOTHING, PAYLOAD_COMMANDS, SIGNATURE, ZERO_COPY_BYTES,
                     AgentbusError, Closed, CurveKeys, KeyFileError, Message,
                     ProtocolError, Rejected, Reply, SessionLost, Timeout,
                     build_frames, encode_payload, load_curve_keys,
                     parse_frames, tensor_from)
from ._sync import Agent, Delivery

__version__ = "0.1.0"

#: The old name of ``NOTHING`` ("no payload frame"), kept for the tests.
_NOTHING = NOTHING

__all__ = [
    "Agent", "AgentbusError", "Closed", "CurveKeys", "Delivery",
    "KeyFileError", "Message", "NOTHING", "load_curve_keys",
    "PAYLOAD_COMMANDS", "ProtocolError", "Rejected", "Reply", "SIGNATURE",
    "SessionLost", "Timeout", "ZERO_COPY_BYTES", "build_frames",
    "encode_payload", "parse_frames", "tensor_from", "__version__",
]
