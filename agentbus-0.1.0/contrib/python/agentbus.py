# agentbus.py - a small ABP/1 agent on pyzmq alone
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""A small agentbus agent on pyzmq alone (numpy optional, for tensors).

ABP/1 is plain ZeroMQ frames, ASCII command words and JSON, so any binding
can be an agent; this module is the proof for Python.  One ``Agent`` is one
*instance*: one DEALER socket connected to the broker's ROUTER endpoint::

    import agentbus
    bus = agentbus.Agent("tcp://127.0.0.1:7780", "retriever")
    bus.publish("retrieval.context", {"query": "q", "passages": []})

    worker = agentbus.Agent("tcp://127.0.0.1:7780", "reasoner", credit=4)
    d = worker.receive(timeout_ms=1000)     # a Delivery, or None
    if d is not None:
        handle(d.payload)
        d.ack()

Design: there are no hidden threads.  Everything happens inside the
agent's own calls (``receive``, ``publish``, ``request``, ``poll``...),
which read the socket, answer nothing by themselves, and send a ``PING``
whenever ``heartbeat_ms`` (from ``WELCOME``) has passed without the agent
sending anything, so an agent that keeps calling ``receive`` stays alive
and one that stops calling is, correctly, declared dead by the broker.
Messages that arrive while a call waits for something else (a ``DELIVER``
while waiting for ``OK``) are kept, in order, for ``receive``.

The broker answers one instance's commands in order, so a call that sends
a command and then waits for its answer (``OK``/``REJECT``/``REPLY``) takes
the first answer of the right kind.  ``ERROR`` answers that belong to no
waiting call (``unknown_message`` after a bad ``ACK``) are collected in
``Agent.errors``.  When the broker says ``ERROR not_registered`` (it
restarted, or timed this instance out) the agent says ``HELLO`` again and,
for a command that waits for an answer, sends it once more.

Errors are exceptions: ``Rejected`` (a ``REJECT``: code, message, errors),
``ProtocolError`` (an ``ERROR`` from the broker, or a broker message that
breaks the frame table) and ``Timeout`` (no answer in time).

Tensors: any numpy array placed in a payload is sent as an attachment and
replaced by its reference ``{"dtype", "shape", "frame"}``; arrays are sent
without copying when they are already little-endian and C-contiguous.  On
the receiving side ``Delivery.attachments`` are memoryviews over the
received frames and ``Delivery.tensor(ref)`` views one as a numpy array.
"""

import itertools
import json
import os
import time
import uuid

import zmq

try:
    import numpy
except ImportError:  # numpy is optional: only tensors need it
    numpy = None

SIGNATURE = b"ABP/1"

#: Commands whose frame 3 is a JSON payload (protocol section 2).
PAYLOAD_COMMANDS = frozenset(
    [b"PUB", b"REQ", b"REP", b"DELIVER", b"REPLY"])

#: numpy dtype name -> protocol dtype name; bfloat16 has no numpy dtype.
_DTYPES = {
    "bool": "bool", "int8": "int8", "uint8": "uint8", "int16": "int16",
    "uint16": "uint16", "int32": "int32", "uint32": "uint32",
    "int64": "int64", "uint64": "uint64", "float16": "float16",
    "float32": "float32", "float64": "float64",
}

_NOTHING = object()  # "no payload frame", distinct from a JSON null


class AgentbusError(Exception):
    """Base class of every error this module raises."""


class ProtocolError(AgentbusError):
    """The broker answered ``ERROR`` (``code``, ``message``), or sent
    something that breaks the ABP/1 frame table (``code`` is None)."""

    def __init__(self, code, message="", header=None):
        super().__init__("%s: %s" % (code, message) if code else message)
        self.code = code
        self.message = message
        self.header = header or {}


class Rejected(AgentbusError):
    """The broker answered ``REJECT``: ``code`` (``invalid``,
    ``unknown_type``, ``timeout``...), ``message`` and, for ``invalid``,
    ``errors`` (a list of ``{path, keyword, schema_path, message}``)."""

    def __init__(self, code, message="", errors=None, header=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.errors = errors or []
        self.header = header or {}


class Timeout(AgentbusError):
    """No answer arrived in time (a local deadline, not a broker REJECT)."""


class Message:
    """One parsed ABP/1 message: ``command`` (str), ``header`` (dict),
    ``payload`` (JSON value, or None when absent), ``has_payload``,
    ``attachments`` (list of memoryview) and the raw ``frames``."""

    def __init__(self, command, header, payload, has_payload, attachments,
                 frames):
        self.command = command
        self.header = header
        self.payload = payload
        self.has_payload = has_payload
        self.attachments = attachments
        self.frames = frames

    def __repr__(self):
        return "<Message %s %r>" % (self.command, self.header)


def _frame_bytes(frame):
    return frame.bytes if isinstance(frame, zmq.Frame) else bytes(frame)


def _frame_view(frame):
    return frame.buffer if isinstance(frame, zmq.Frame) else memoryview(frame)


def parse_frames(frames):
    """Parses a received multipart message into a ``Message``.  Raises
    ``ProtocolError`` (code None) when it breaks the frame table."""
    if len(frames) < 3:
        raise ProtocolError(None, "message of %d frames" % len(frames))
    if _frame_bytes(frames[0]) != SIGNATURE:
        raise ProtocolError(None, "bad signature %r" % _frame_bytes(frames[0]))
    command = _frame_bytes(frames[1])
    try:
        header = json.loads(_frame_bytes(frames[2]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(None, "header is not JSON: %s" % exc)
    if not isinstance(header, dict):
        raise ProtocolError(None, "header is not a JSON object")
    payload, has_payload, first_attachment = None, False, 3
    if command in PAYLOAD_COMMANDS:
        if len(frames) < 4:
            raise ProtocolError(None, "%s without payload" % command.decode())
        try:
            payload = json.loads(_frame_bytes(frames[3]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(None, "payload is not JSON: %s" % exc)
        has_payload, first_attachment = True, 4
    elif len(frames) > 3:
        raise ProtocolError(None, "%s with extra frames" % command.decode())
    attachments = [_frame_view(f) for f in frames[first_attachment:]]
    return Message(command.decode("ascii", "replace"), header, payload,
                   has_payload, attachments, frames)


def _tensor_frame(array):
    """Returns (reference without frame, buffer) for a numpy array; the
    buffer is the array itself when it is already little-endian and
    C-contiguous (no copy)."""
    name = _DTYPES.get(array.dtype.name)
    if name is None:
        raise ValueError("dtype %s is not an ABP/1 dtype" % array.dtype)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    array = numpy.ascontiguousarray(array)
    return {"dtype": name, "shape": list(array.shape)}, array


def encode_payload(payload, attachments=()):
    """Returns (JSON bytes, attachment list): every numpy array found in
    ``payload`` (dicts and lists are walked) becomes a tensor reference
    whose ``frame`` counts after the explicit ``attachments``."""
    frames = list(attachments)

    def walk(value):
        if numpy is not None and isinstance(value, numpy.ndarray):
            ref, buf = _tensor_frame(value)
            ref["frame"] = len(frames)
            frames.append(buf)
            return ref
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    doc = walk(payload)
    return json.dumps(doc, separators=(",", ":")).encode("utf-8"), frames


def tensor_from(attachments, ref):
    """Views the attachment named by a tensor reference ``ref``
    (``{"dtype", "shape", "frame"}``) as a read-only numpy array, without
    copying."""
    if numpy is None:
        raise RuntimeError("numpy is needed for tensors")
    if ref["dtype"] not in _DTYPES:
        raise ValueError("dtype %s has no numpy equivalent" % ref["dtype"])
    dtype = numpy.dtype(ref["dtype"]).newbyteorder("<")
    buf = attachments[ref["frame"]]
    return numpy.frombuffer(buf, dtype=dtype).reshape(ref["shape"])


class Delivery:
    """One ``DELIVER``: a copy of a message for this instance.

    Header fields are attributes: ``msg`` (the copy's id, the same on every
    redelivery), ``type``, ``version``, ``sender`` (header ``from``),
    ``id``, ``attempt``, ``seq``, ``traceparent``, ``request`` (True when a
    reply is expected), ``reason`` and ``original`` (dead letters); the
    whole header is ``header``.  ``payload`` is the decoded JSON and
    ``attachments`` are memoryviews over the received frames.

    Finish it with exactly one of ``ack()``, ``nack()`` or, for a request,
    ``reply(..., partial=False)``."""

    def __init__(self, agent, message):
        self._agent = agent
        h = message.header
        self.header = h
        self.msg = h.get("msg")
        self.type = h.get("type")
        self.version = h.get("version")
        self.sender = h.get("from")
        self.id = h.get("id")
        self.attempt = h.get("attempt")
        self.seq = h.get("seq")
        self.traceparent = h.get("traceparent")
        self.request = bool(h.get("request", False))
        self.reason = h.get("reason")
        self.original = h.get("original")
        self.payload = message.payload
        self.attachments = message.attachments

    def __repr__(self):
        return "<Delivery %s %s attempt=%s>" % (self.msg, self.type,
                                                self.attempt)

    def tensor(self, ref):
        """The tensor named by ``ref`` (a reference dict from the payload,
        or the key of one at the payload's top level) as a numpy array."""
        if isinstance(ref, str):
            ref = self.payload[ref]
        return tensor_from(self.attachments, ref)

    def ack(self):
        """Acknowledges this copy (``ACK {msg}``); no answer is awaited."""
        self._agent.send_frames("ACK", {"msg": self.msg})

    def nack(self, requeue=True, reason=None):
        """Refuses this copy (``NACK``): redelivered later when ``requeue``,
        dead-lettered with reason ``rejected`` otherwise."""
        header = {"msg": self.msg, "requeue": bool(requeue)}
        if reason is not None:
            header["reason"] = reason
        self._agent.send_frames("NACK", header)

    def reply(self, payload, partial=False, attachments=(), timeout_ms=5000):
        """Answers a request delivery with ``REP``; ``partial=True`` streams
        one piece and keeps the request open.  Waits for the broker's
        ``OK`` and returns its header; raises ``Rejected`` when the reply
        fails validation (the request then stays open)."""
        header = {"msg": self.msg}
        if partial:
            header["partial"] = True
        return self._agent._command_answer(
            "REP", header, payload, attachments, ("OK", "REJECT"),
            timeout_ms)


class Reply:
    """One ``REPLY`` to a request: ``id``, ``type``, ``version``,
    ``sender`` (``from``), ``partial``, ``header``, ``payload``,
    ``attachments`` and ``tensor(ref)`` as for ``Delivery``."""

    def __init__(self, message):
        h = message.header
        self.header = h
        self.id = h.get("id")
        self.type = h.get("type")
        self.version = h.get("version")
        self.sender = h.get("from")
        self.partial = bool(h.get("partial", False))
        self.payload = message.payload
        self.attachments = message.attachments

    def __repr__(self):
        return "<Reply %s partial=%s>" % (self.type, self.partial)

    def tensor(self, ref):
        """As ``Delivery.tensor``."""
        if isinstance(ref, str):
            ref = self.payload[ref]
        return tensor_from(self.attachments, ref)


class Agent:
    """One agent instance: a DEALER socket connected to ``endpoint``.

    ``agent`` is the agent's name in the topology, ``credit`` its in-flight
    window, ``instance`` free text for the broker's logs.  With ``hello``
    (the default) the constructor says ``HELLO`` and waits for ``WELCOME``;
    afterwards ``welcome`` holds that header and ``heartbeat_ms`` and
    ``topology`` its fields.  ``heartbeat`` False turns the automatic
    ``PING`` off (tests of dead instances)."""

    def __init__(self, endpoint, agent, credit=16, instance=None,
                 context=None, hello=True, heartbeat=True,
                 timeout_ms=5000):
        self.endpoint = endpoint
        self.agent = agent
        self.credit_window = credit
        self.instance = instance or "py-%d-%s" % (os.getpid(),
                                                  uuid.uuid4().hex[:8])
        self.heartbeat = heartbeat
        self.timeout_ms = timeout_ms
        self.welcome = None
        self.heartbeat_ms = None
        self.topology = None
        self.hello_count = 0
        self.errors = []        # ERRORs that answered no waiting call
        self._inbox = []        # DELIVERs kept for receive(), in order
        self._last_send = time.monotonic()
        self._ids = itertools.count(1)
        self._own_context = context is None
        self.context = context or zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        if hello:
            try:
                self.hello()
            except BaseException:
                self.close()
                raise

    # -- raw frames ---------------------------------------------------------

    def send_raw(self, frames, copy=True):
        """Sends ``frames`` exactly as given (bytes-like objects), for tests
        that must break the protocol on purpose."""
        self.socket.send_multipart(frames, copy=copy)
        self._last_send = time.monotonic()

    def send_frames(self, command, header, payload=_NOTHING,
                    attachments=()):
        """Sends one ABP/1 message.  ``header`` is a dict (or bytes, sent
        as is); ``payload`` a JSON value (or bytes, sent as is; omitted:
        no frame 3); numpy arrays in the payload become attachments.
        Attachments are sent without copying: libzmq may read them after
        this call returns, so leave them unchanged until an answer comes
        (``publish`` and ``request`` wait for one)."""
        frames = [SIGNATURE, command.encode("ascii")
                  if isinstance(command, str) else command]
        if isinstance(header, (bytes, bytearray, memoryview)):
            frames.append(header)
        else:
            frames.append(json.dumps(header, separators=(",", ":"))
                          .encode("utf-8"))
        attachments = list(attachments)
        if payload is not _NOTHING:
            if isinstance(payload, (bytes, bytearray, memoryview)):
                frames.append(payload)
            else:
                doc, attachments = encode_payload(payload, attachments)
                frames.append(doc)
        frames.extend(attachments)
        self.send_raw(frames, copy=not attachments)

    def recv_frames(self, timeout_ms=None):
        """Receives one multipart message as a list of ``zmq.Frame`` (no
        parsing, no heartbeat handling); None when ``timeout_ms`` passes."""
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        return self.socket.recv_multipart(copy=False)

    def recv_message(self, timeout_ms=None):
        """Receives and parses one message (``Message``), or None when
        ``timeout_ms`` passes.  Raw: no heartbeat, no re-HELLO."""
        frames = self.recv_frames(timeout_ms)
        return None if frames is None else parse_frames(frames)

    # -- the poll loop ------------------------------------------------------

    def _heartbeat_due(self):
        if not self.heartbeat or not self.heartbeat_ms:
            return None
        return self._last_send + self.heartbeat_ms / 1000.0 / 2

    def _next(self, deadline):
        """Returns the next message before ``deadline`` (monotonic seconds,
        None: wait forever), sending PINGs as the heartbeat demands; None
        when the deadline passes."""
        while True:
            now = time.monotonic()
            due = self._heartbeat_due()
            if due is not None and now >= due:
                self.send_frames("PING", {})
                due = self._heartbeat_due()
            until = deadline
            if due is not None and (until is None or due < until):
                until = due
            wait = -1 if until is None else max(0, int((until - now) * 1000))
            if self.socket.poll(wait, zmq.POLLIN):
                return parse_frames(self.socket.recv_multipart(copy=False))
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _dispatch(self, message, wanted):
        """Handles a message no waiting call asked for; returns True when it
        was consumed here."""
        if message.command in wanted:
            return False
        if message.command == "DELIVER":
            self._inbox.append(Delivery(self, message))
        elif message.command == "PONG":
            pass
        elif message.command == "ERROR":
            if message.header.get("code") == "not_registered":
                self.hello()
            else:
                self.errors.append(message.header)
        elif message.command == "WELCOME":
            self._take_welcome(message.header)
        else:
            self.errors.append({"code": None, "message":
                                "unexpected %s" % message.command,
                                "header": message.header})
        return True

    def poll(self, timeout_ms=0):
        """Runs the loop for up to ``timeout_ms``: reads what arrived,
        keeps deliveries for ``receive`` and sends heartbeats.  Call it in
        an agent that is busy elsewhere, to stay alive."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            message = self._next(deadline)
            if message is None:
                return
            self._dispatch(message, ())

    def _wait_for(self, wanted, timeout_ms, match=None):
        """Waits for a message whose command is in ``wanted`` (and which
        ``match`` accepts); others are dispatched.  Raises ``Timeout``."""
        deadline = None if timeout_ms is None else \
            time.monotonic() + timeout_ms / 1000.0
        while True:
            message = self._next(deadline)
            if message is None:
                raise Timeout("no %s within %s ms" % ("/".join(wanted),
                                                      timeout_ms))
            if self._dispatch(message, wanted):
                continue
            if match is None or match(message):
                return message
            self._dispatch(message, ())

    # -- session ------------------------------------------------------------

    def _take_welcome(self, header):
        self.welcome = header
        self.heartbeat_ms = header.get("heartbeat_ms")
        self.topology = header.get("topology")

    def hello(self, timeout_ms=None):
        """Says ``HELLO`` and waits for ``WELCOME`` (returned, and kept in
        ``welcome``); raises ``ProtocolError`` on ``ERROR``
        (``unknown_agent``, ``unauthorized``)."""
        header = {"agent": self.agent, "credit": self.credit_window,
                  "instance": self.instance}
        self.send_frames("HELLO", header)
        deadline = time.monotonic() + (timeout_ms or self.timeout_ms) / 1e3
        while True:
            message = self._next(deadline)
            if message is None:
                raise Timeout("no WELCOME from %s" % self.endpoint)
            if message.command == "WELCOME":
                self._take_welcome(message.header)
                self.hello_count += 1
                return message.header
            if message.command == "ERROR":
                if message.header.get("code") in ("not_registered",
                                                   "unknown_message"):
                    # answers to something sent before this HELLO
                    self.errors.append(message.header)
                    continue
                raise ProtocolError(message.header.get("code"),
                                    message.header.get("message", ""),
                                    message.header)
            self._dispatch(message, ())

    def _command_answer(self, command, header, payload, attachments,
                        wanted, timeout_ms, match=None):
        """Sends a command and returns its answer's header (for OK) or the
        message; REJECT raises ``Rejected``, ERROR ``ProtocolError``; an
        ERROR not_registered makes the agent say HELLO and send it again,
        once.  ``timeout_ms`` None is the agent's default, negative is no
        local deadline."""
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        if timeout_ms < 0:
            timeout_ms = None
        for attempt in (1, 2):
            self.send_frames(command, header, payload, attachments)
            message = self._wait_for(tuple(wanted) + ("ERROR",),
                                     timeout_ms, match)
            h = message.header
            if message.command == "ERROR":
                if h.get("code") == "not_registered" and attempt == 1:
                    self.hello()
                    continue
                if h.get("code") == "unknown_message" and \
                        command in ("PUB", "REQ"):
                    # left over from an earlier ACK/NACK: keep waiting
                    self.errors.append(h)
                    message = self._wait_for(tuple(wanted), timeout_ms,
                                             match)
                    h = message.header
                else:
                    raise ProtocolError(h.get("code"), h.get("message", ""),
                                        h)
            if message.command == "REJECT":
                raise Rejected(h.get("code"), h.get("message", ""),
                               h.get("errors"), h)
            return h if message.command == "OK" else message
        raise AssertionError("unreachable")

    def credit(self, n):
        """Sets this instance's in-flight window (``CREDIT``)."""
        self.credit_window = n
        self.send_frames("CREDIT", {"credit": n})

    def ping(self, timeout_ms=None):
        """Sends ``PING`` and waits for ``PONG``; returns its header."""
        self.send_frames("PING", {})
        return self._wait_for(("PONG",), timeout_ms or self.timeout_ms).header

    def bye(self):
        """Says ``BYE``: the broker forgets this instance and requeues its
        in-flight copies without counting an attempt."""
        self.send_frames("BYE", {})

    def close(self, bye=False):
        """Closes the socket (after ``BYE`` when asked)."""
        if bye:
            self.bye()
        self.socket.close(0)
        if self._own_context:
            self.context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages -----------------------------------------------------------

    @staticmethod
    def _pub_header(type, version, id, seq, ttl_ms, traceparent):
        header = {"type": type}
        for key, value in (("version", version), ("id", id), ("seq", seq),
                           ("ttl_ms", ttl_ms), ("traceparent", traceparent)):
            if value is not None:
                header[key] = value
        return header

    def publish(self, type, payload, version=None, id=None, seq=None,
                ttl_ms=None, traceparent=None, attachments=(),
                timeout_ms=None):
        """Publishes (``PUB``) and waits for ``OK``; returns its header
        (``{"id", "routed"}``).  numpy arrays in ``payload`` are sent as
        tensor attachments after ``attachments``.  Raises ``Rejected``."""
        header = self._pub_header(type, version, id, seq, ttl_ms, traceparent)
        return self._command_answer("PUB", header, payload, attachments,
                                    ("OK", "REJECT"), timeout_ms)

    def request_stream(self, type, payload, timeout_ms=None, version=None,
                       id=None, ttl_ms=None, traceparent=None,
                       attachments=()):
        """Sends ``REQ`` and yields every ``Reply``: the partial ones as
        they stream in, the final one (``partial`` False) last.  Raises
        ``Rejected`` (``timeout`` and every ``PUB`` code).  Without an
        ``id`` one is made up, to match replies to this request."""
        if id is None:
            id = "req-%d-%s" % (next(self._ids), uuid.uuid4().hex[:8])
        header = self._pub_header(type, version, id, None, ttl_ms,
                                  traceparent)
        if timeout_ms is not None:
            header["timeout_ms"] = timeout_ms
        # The broker enforces timeout_ms (and its default) and always ends
        # a request with REPLY or REJECT timeout; wait a little longer than
        # timeout_ms before giving up locally, and without a deadline when
        # the broker's default applies.
        local = -1 if timeout_ms is None else timeout_ms + 5000

        def ours(message):
            return message.command != "REPLY" or message.header.get("id") == id

        message = self._command_answer("REQ", header, payload, attachments,
                                       ("REPLY", "REJECT"), local, ours)
        while True:
            reply = Reply(message)
            yield reply
            if not reply.partial:
                return
            message = self._wait_for(("REPLY", "REJECT"),
                                     None if local < 0 else local, ours)
            if message.command == "REJECT":
                h = message.header
                raise Rejected(h.get("code"), h.get("message", ""),
                               h.get("errors"), h)

    def request(self, type, payload, timeout_ms=None, on_partial=None,
                **kwargs):
        """Sends ``REQ`` and returns the final ``Reply``; partial replies
        are passed to ``on_partial`` (if given) as they arrive.  Takes the
        keyword arguments of ``request_stream``."""
        for reply in self.request_stream(type, payload, timeout_ms,
                                         **kwargs):
            if not reply.partial:
                return reply
            if on_partial is not None:
                on_partial(reply)
        raise ProtocolError(None, "request ended without a final reply")

    def receive(self, timeout_ms=None):
        """Returns the next ``Delivery`` (kept ones first), or None when
        ``timeout_ms`` passes (None: the agent's default timeout).  Keeps
        the heartbeat going while it waits."""
        if self._inbox:
            return self._inbox.pop(0)
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000.0
        while not self._inbox:
            message = self._next(deadline)
            if message is None:
                return None
            self._dispatch(message, ())
        return self._inbox.pop(0)
