# _sync.py - the synchronous agent: one DEALER, no hidden threads
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""The synchronous ``Agent``.

There are no hidden threads.  Everything happens inside the agent's own
calls (``receive``, ``publish``, ``request``, ``poll``...), which read the
socket, answer nothing by themselves, and send a ``PING`` whenever half of
``heartbeat_ms`` (from ``WELCOME``) has passed without the agent sending
anything, so an agent that keeps calling ``receive`` stays alive and one
that stops calling is, correctly, declared dead by the broker.  Messages
that arrive while a call waits for something else (a ``DELIVER`` while
waiting for ``OK``) are kept, in order, for ``receive``.

The broker answers one instance's commands in order, so a call that sends
a command and then waits for its answer (``OK``/``REJECT``/``REPLY``) takes
the first answer of the right kind.  ``ERROR`` answers that belong to no
waiting call (``unknown_message`` after a bad ``ACK``) are collected in
``Agent.errors``.  When the broker says ``ERROR not_registered`` (it
restarted, or timed this instance out) the agent says ``HELLO`` again and,
for a command that waits for an answer, sends it once more.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import zmq

from ._proto import (NOTHING, Buffer, Closed, CurveKeys, DeliveryBase,
                     Header, Message, ProtocolError, Reply, Timeout,
                     build_frames, dealer_options, load_curve_keys,
                     parse_frames, protocol_error, pub_header, rejected)

#: How much longer than a request's ``timeout_ms`` the agent waits for the
#: broker's own ``REJECT timeout`` before it gives up locally.
REQUEST_GRACE_MS = 5000


class Delivery(DeliveryBase):
    """One ``DELIVER`` (see ``DeliveryBase`` for its fields).  Finish it
    with exactly one of ``ack()``, ``nack()`` or, for a request,
    ``reply(..., partial=False)``."""

    def __init__(self, agent: "Agent", message: Message) -> None:
        super().__init__(message)
        self._agent = agent

    def ack(self) -> None:
        """Acknowledges this copy (``ACK {msg}``); no answer is awaited."""
        self._agent.send_frames("ACK", {"msg": self.msg})

    def nack(self, requeue: bool = True, reason: Optional[str] = None
             ) -> None:
        """Refuses this copy (``NACK``): redelivered later when ``requeue``,
        dead-lettered with reason ``rejected`` otherwise."""
        self._agent.send_frames("NACK", self._nack_header(requeue, reason))

    def reply(self, payload: Any, partial: bool = False,
              attachments: Sequence[Buffer] = (),
              timeout_ms: Optional[int] = 5000) -> Header:
        """Answers a request delivery with ``REP``; ``partial=True`` streams
        one piece and keeps the request open.  Waits for the broker's
        ``OK`` and returns its header; raises ``Rejected`` when the reply
        fails validation (the request then stays open)."""
        header: Header = {"msg": self.msg}
        if partial:
            header["partial"] = True
        answer = self._agent._command_answer(
            "REP", header, payload, attachments, ("OK", "REJECT"),
            timeout_ms)
        assert isinstance(answer, dict)
        return answer


class Agent:
    """One agent instance: a DEALER socket connected to ``endpoint``.

    ``agent`` is the agent's name in the topology, ``credit`` its in-flight
    window, ``instance`` free text for the broker's logs.  With ``hello``
    (the default) the constructor says ``HELLO`` and waits for ``WELCOME``;
    afterwards ``welcome`` holds that header and ``heartbeat_ms`` and
    ``topology`` its fields.  ``heartbeat`` False turns the automatic
    ``PING`` off (tests of dead instances).  ``timeout_ms`` is the default
    deadline of every wait; ``request_timeout_ms`` the local deadline of a
    request sent without ``timeout_ms`` (the broker's default then
    applies, and normally answers first)."""

    def __init__(self, endpoint: str, agent: str, credit: int = 16,
                 instance: Optional[str] = None,
                 context: Optional[zmq.Context] = None,  # type: ignore[type-arg]
                 hello: bool = True, heartbeat: bool = True,
                 timeout_ms: int = 5000,
                 request_timeout_ms: int = 120000,
                 key: Optional[str] = None,
                 server_key: Optional[str] = None,
                 curve: Optional[CurveKeys] = None) -> None:
        if curve is None and (key is not None or server_key is not None):
            if key is None or server_key is None:
                raise ValueError("CURVE needs both key and server_key")
            curve = load_curve_keys(key, server_key)
        self.curve = curve
        self.endpoint = endpoint
        self.agent = agent
        self.credit_window = credit
        self.instance = instance or "py-%d-%s" % (os.getpid(),
                                                  uuid.uuid4().hex[:8])
        self.heartbeat = heartbeat
        self.timeout_ms = timeout_ms
        self.request_timeout_ms = request_timeout_ms
        self.welcome: Optional[Header] = None
        self.heartbeat_ms: Optional[int] = None
        self.topology: Optional[str] = None
        self.hello_count = 0
        self.errors: List[Header] = []  # ERRORs that answered no waiting call
        self._inbox: List[Delivery] = []  # DELIVERs kept for receive()
        self._last_send = time.monotonic()
        self._ids = itertools.count(1)
        self._own_context = context is None
        self.context: zmq.Context = context or zmq.Context()  # type: ignore[type-arg]
        self.socket: zmq.Socket = self.context.socket(zmq.DEALER)  # type: ignore[type-arg]
        dealer_options(self.socket, curve)
        self.socket.connect(endpoint)
        if hello:
            try:
                self.hello()
            except BaseException:
                self.close()
                raise

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return bool(self.socket.closed)

    def _check_open(self) -> None:
        if self.socket.closed:
            raise Closed("agent %s is closed" % self.agent)

    # -- raw frames ---------------------------------------------------------

    def send_raw(self, frames: Sequence[Any], copy: bool = True) -> None:
        """Sends ``frames`` exactly as given (bytes-like objects), for tests
        that must break the protocol on purpose."""
        self._check_open()
        self.socket.send_multipart(frames, copy=copy)
        self._last_send = time.monotonic()

    def send_frames(self, command: Union[str, bytes],
                    header: Union[Header, Buffer], payload: Any = NOTHING,
                    attachments: Sequence[Buffer] = ()) -> None:
        """Sends one ABP/1 message.  ``header`` is a dict (or bytes, sent
        as is); ``payload`` a JSON value (or bytes, sent as is; omitted:
        no frame 3); numpy arrays in the payload become attachments.
        Large attachments are sent without copying: libzmq may read them
        after this call returns, so leave them unchanged until an answer
        comes (``publish`` and ``request`` wait for one)."""
        self.send_raw(build_frames(command, header, payload, attachments),
                      copy=False)

    def recv_frames(self, timeout_ms: Optional[int] = None
                    ) -> Optional[List[zmq.Frame]]:
        """Receives one multipart message as a list of ``zmq.Frame`` (no
        parsing, no heartbeat handling); None when ``timeout_ms`` passes."""
        self._check_open()
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        return self.socket.recv_multipart(copy=False)

    def recv_message(self, timeout_ms: Optional[int] = None
                     ) -> Optional[Message]:
        """Receives and parses one message (``Message``), or None when
        ``timeout_ms`` passes.  Raw: no heartbeat, no re-HELLO."""
        frames = self.recv_frames(timeout_ms)
        return None if frames is None else parse_frames(frames)

    # -- the poll loop ------------------------------------------------------

    def _heartbeat_due(self) -> Optional[float]:
        if not self.heartbeat or not self.heartbeat_ms:
            return None
        return self._last_send + self.heartbeat_ms / 1000.0 / 2

    def _next(self, deadline: float) -> Optional[Message]:
        """Returns the next message before ``deadline`` (monotonic
        seconds), sending PINGs as the heartbeat demands; None when the
        deadline passes."""
        self._check_open()
        while True:
            now = time.monotonic()
            due = self._heartbeat_due()
            if due is not None and now >= due:
                self.send_frames("PING", {})
                due = self._heartbeat_due()
            until = deadline
            if due is not None and due < until:
                until = due
            wait = max(0, int((until - now) * 1000))
            try:
                ready = self.socket.poll(wait, zmq.POLLIN)
            except zmq.ZMQError as exc:
                if self.socket.closed:
                    raise Closed("agent %s is closed" % self.agent) from exc
                raise
            if ready:
                return parse_frames(self.socket.recv_multipart(copy=False))
            if time.monotonic() >= deadline:
                return None

    def _dispatch(self, message: Message, wanted: Sequence[str]) -> bool:
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

    def poll(self, timeout_ms: int = 0) -> None:
        """Runs the loop for up to ``timeout_ms``: reads what arrived,
        keeps deliveries for ``receive`` and sends heartbeats.  Call it in
        an agent that is busy elsewhere, to stay alive."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            message = self._next(deadline)
            if message is None:
                return
            self._dispatch(message, ())

    def _wait_for(self, wanted: Sequence[str], timeout_ms: int,
                  match: Optional[Callable[[Message], bool]] = None
                  ) -> Message:
        """Waits for a message whose command is in ``wanted`` (and which
        ``match`` accepts); others are dispatched.  Raises ``Timeout``."""
        deadline = time.monotonic() + timeout_ms / 1000.0
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

    def _take_welcome(self, header: Header) -> None:
        self.welcome = header
        self.heartbeat_ms = header.get("heartbeat_ms")
        self.topology = header.get("topology")

    def hello(self, timeout_ms: Optional[int] = None) -> Header:
        """Says ``HELLO`` and waits for ``WELCOME`` (returned, and kept in
        ``welcome``); raises ``ProtocolError`` on ``ERROR``
        (``unknown_agent``, ``unauthorized``) and ``Timeout``."""
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
                raise protocol_error(message.header)
            self._dispatch(message, ())

    def _command_answer(self, command: str, header: Header, payload: Any,
                        attachments: Sequence[Buffer], wanted: Sequence[str],
                        timeout_ms: Optional[int],
                        match: Optional[Callable[[Message], bool]] = None
                        ) -> Union[Header, Message]:
        """Sends a command and returns its answer's header (for OK) or the
        message; REJECT raises ``Rejected``, ERROR ``ProtocolError``; an
        ERROR not_registered makes the agent say HELLO and send it again,
        once.  ``timeout_ms`` None is the agent's default."""
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
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
                    raise protocol_error(h)
            if message.command == "REJECT":
                raise rejected(h)
            return h if message.command == "OK" else message
        raise AssertionError("unreachable")

    def credit(self, n: int) -> None:
        """Sets this instance's in-flight window (``CREDIT``)."""
        self.credit_window = n
        self.send_frames("CREDIT", {"credit": n})

    def ping(self, timeout_ms: Optional[int] = None) -> Header:
        """Sends ``PING`` and waits for ``PONG``; returns its header."""
        self.send_frames("PING", {})
        return self._wait_for(("PONG",), timeout_ms or self.timeout_ms).header

    def bye(self) -> None:
        """Says ``BYE``: the broker forgets this instance and requeues its
        in-flight copies without counting an attempt."""
        self.send_frames("BYE", {})

    def close(self, bye: bool = False) -> None:
        """Closes the socket (after ``BYE`` when asked).  Closing twice is
        harmless; any later call raises ``Closed``."""
        if self.socket.closed:
            return
        if bye:
            self.bye()
        self.socket.close(0)
        if self._own_context:
            self.context.term()

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- messages -----------------------------------------------------------

    def publish(self, type: str, payload: Any, version: Optional[int] = None,
                id: Optional[str] = None, seq: Optional[int] = None,
                ttl_ms: Optional[int] = None,
                traceparent: Optional[str] = None,
                attachments: Sequence[Buffer] = (),
                timeout_ms: Optional[int] = None) -> Header:
        """Publishes (``PUB``) and waits for ``OK``; returns its header
        (``{"id", "routed"}``).  numpy arrays in ``payload`` are sent as
        tensor attachments after ``attachments``.  Raises ``Rejected``,
        ``ProtocolError``, ``Timeout``."""
        header = pub_header(type, version, id, seq, ttl_ms, traceparent)
        answer = self._command_answer("PUB", header, payload, attachments,
                                      ("OK", "REJECT"), timeout_ms)
        assert isinstance(answer, dict)
        return answer

    def request_stream(self, type: str, payload: Any,
                       timeout_ms: Optional[int] = None,
                       version: Optional[int] = None,
                       id: Optional[str] = None,
                       ttl_ms: Optional[int] = None,
                       traceparent: Optional[str] = None,
                       attachments: Sequence[Buffer] = ()
                       ) -> Iterator[Reply]:
        """Sends ``REQ`` and yields every ``Reply``: the partial ones as
        they stream in, the final one (``partial`` False) last.  Raises
        ``Rejected`` (``timeout`` and every ``PUB`` code), and ``Timeout``
        when not even the broker's ``REJECT timeout`` came in time.
        Without an ``id`` one is made up, to match replies to this
        request."""
        if id is None:
            id = "req-%d-%s" % (next(self._ids), uuid.uuid4().hex[:8])
        header = pub_header(type, version, id, None, ttl_ms, traceparent)
        if timeout_ms is not None:
            header["timeout_ms"] = timeout_ms
        # The broker enforces timeout_ms (and its default) and always ends
        # a request with REPLY or REJECT timeout; wait a little longer than
        # timeout_ms before giving up locally.
        local = (self.request_timeout_ms if timeout_ms is None
                 else timeout_ms + REQUEST_GRACE_MS)

        def ours(message: Message) -> bool:
            return message.command != "REPLY" or \
                message.header.get("id") == id

        answer = self._command_answer("REQ", header, payload, attachments,
                                      ("REPLY", "REJECT"), local, ours)
        assert isinstance(answer, Message)
        message = answer
        while True:
            reply = Reply(message)
            yield reply
            if not reply.partial:
                return
            message = self._wait_for(("REPLY", "REJECT"), local, ours)
            if message.command == "REJECT":
                raise rejected(message.header)

    def request(self, type: str, payload: Any,
                timeout_ms: Optional[int] = None,
                on_partial: Optional[Callable[[Reply], None]] = None,
                **kwargs: Any) -> Reply:
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

    def receive(self, timeout_ms: Optional[int] = None
                ) -> Optional[Delivery]:
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


__all__: Tuple[str, ...] = ("Agent", "Delivery", "REQUEST_GRACE_MS")
