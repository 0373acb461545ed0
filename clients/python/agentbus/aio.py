# aio.py - the asyncio agent on zmq.asyncio
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""``agentbus.aio.Agent``: one agent instance on ``zmq.asyncio``::

    import agentbus.aio

    async def main():
        async with agentbus.aio.Agent("tcp://127.0.0.1:7780", "reasoner") as bus:
            async for d in bus:
                await bus.publish("reasoning.answer", answer(d.payload))
                await d.ack()

Two tasks run beside the caller's: a reader, which hands every message to
whoever waits for it (deliveries to the ``async for``, ``OK``/``REJECT`` to
the ``publish`` that caused it, ``REPLY``s to their request's stream), and
a heartbeat, which sends ``PING`` whenever half of ``heartbeat_ms`` passed
without the agent sending anything, so an agent that awaits a long LLM
call stays registered.

How answers are matched: the broker answers one instance's commands in
order, and each kind of answer names its command (``WELCOME`` a
``HELLO``, ``PONG`` a ``PING``, an ``OK``/``REJECT`` with ``msg`` a
``REP``, one without it a ``PUB``, a ``REJECT``/``REPLY`` with a request's
``id`` that request), so each answer goes to the oldest command of its
kind.  ``ACK``, ``NACK`` and ``CREDIT`` are answered only when they fail;
such an ``ERROR`` goes to the oldest command that can cause it and, if
nobody waits for it, into ``Agent.errors``.

After ``ERROR not_registered`` (the broker restarted, or declared this
instance dead) the agent says ``HELLO`` again and then sends once more
every command still waiting for its answer, and every request that has
had no reply yet.  A streamed request that had partial replies ends with
``SessionLost``.

Every wait has a deadline (``timeout_ms``) and raises ``agentbus.Timeout``
when it passes; waits end with ``agentbus.Closed`` when the agent is
closed.  ``async for`` over the agent waits for deliveries until the agent
is closed; ``receive(timeout_ms)`` waits for one, or returns None.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from typing import (Any, AsyncIterator, Awaitable, Callable, Dict, List,
                    Optional, Sequence, Union)

import zmq
import zmq.asyncio

from ._proto import (NOTHING, AgentbusError, Buffer, Closed, CurveKeys,
                     DeliveryBase, Header, Message, ProtocolError, Reply,
                     SessionLost, Timeout, build_frames, dealer_options,
                     load_curve_keys, parse_frames, protocol_error,
                     pub_header, rejected)
from ._sync import REQUEST_GRACE_MS

#: Commands answered only when they fail.
_MAYBE = frozenset(["ACK", "NACK", "CREDIT", "REQ", "BYE"])

#: The commands an ERROR code can answer (None: any command).
_ERROR_SOURCES: Dict[str, Optional[frozenset[str]]] = {
    "unknown_message": frozenset(["ACK", "NACK", "REP"]),
    "unknown_agent": frozenset(["HELLO"]),
    "unauthorized": frozenset(["HELLO"]),
}


class _Pending:
    """One command sent and not yet known to be answered."""

    def __init__(self, kind: str, frames: List[Any],
                 future: Optional["asyncio.Future[Any]"],
                 msg: Optional[str] = None) -> None:
        self.kind = kind            # the command word
        self.frames = frames        # what was sent, to send it again
        self.future = future        # the waiting caller's, or None
        self.msg = msg              # REP/ACK/NACK: the copy it names
        self.seq = 0                # order of sending, set by _send

    @property
    def waiting(self) -> bool:
        return self.future is not None and not self.future.done()


class _Request:
    """One open request: its replies arrive on ``queue``."""

    def __init__(self, frames: List[Any]) -> None:
        self.frames = frames        # the REQ, to send it again
        self.queue: "asyncio.Queue[Union[Message, BaseException]]" = \
            asyncio.Queue()
        self.replies = 0            # REPLYs received so far
        self.seq = 0                # when the REQ was (last) sent


class Delivery(DeliveryBase):
    """One ``DELIVER`` (see ``agentbus.Delivery`` for its fields).  Finish
    it with exactly one of ``await ack()``, ``await nack()`` or, for a
    request, ``await reply(..., partial=False)``."""

    def __init__(self, agent: "Agent", message: Message) -> None:
        super().__init__(message)
        self._agent = agent

    async def ack(self) -> None:
        """Acknowledges this copy (``ACK {msg}``); no answer is awaited
        (a failure lands in ``Agent.errors``)."""
        await self._agent._send("ACK", {"msg": self.msg}, msg=self.msg)

    async def nack(self, requeue: bool = True,
                   reason: Optional[str] = None) -> None:
        """Refuses this copy (``NACK``): redelivered later when
        ``requeue``, dead-lettered with reason ``rejected`` otherwise."""
        await self._agent._send("NACK", self._nack_header(requeue, reason),
                                msg=self.msg)

    async def reply(self, payload: Any, partial: bool = False,
                    attachments: Sequence[Buffer] = (),
                    timeout_ms: Optional[int] = None) -> Header:
        """Answers a request delivery with ``REP``; ``partial=True``
        streams one piece and keeps the request open.  Returns the
        broker's ``OK`` header; raises ``Rejected`` when the reply fails
        validation (the request stays open), ``ProtocolError``
        (``unknown_message``: the request is no longer held here) and
        ``Timeout``."""
        header: Header = {"msg": self.msg}
        if partial:
            header["partial"] = True
        answer = await self._agent._call("REP", header, payload,
                                         attachments, timeout_ms,
                                         msg=self.msg)
        assert isinstance(answer, dict)
        return answer


class Agent:
    """One agent instance on ``zmq.asyncio``; the arguments are those of
    ``agentbus.Agent`` (CURVE ``key``/``server_key`` too).  Nothing is
    sent until ``await start()`` (or
    ``async with``), which says ``HELLO`` and waits for ``WELCOME``."""

    def __init__(self, endpoint: str, agent: str, credit: int = 16,
                 instance: Optional[str] = None,
                 context: Optional[zmq.asyncio.Context] = None,
                 heartbeat: bool = True, timeout_ms: int = 5000,
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
        self.replies_dropped = 0        # REPLYs for no open request
        self._own_context = context is None
        self.context = context or zmq.asyncio.Context()
        self.socket: Optional[zmq.asyncio.Socket] = None
        self._closed = False
        self._pending: List[_Pending] = []
        self._requests: Dict[str, _Request] = {}
        self._deliveries: "asyncio.Queue[Optional[Delivery]]" = \
            asyncio.Queue()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._last_send = 0.0
        self._tasks: List["asyncio.Task[None]"] = []
        self._rehello: Optional["asyncio.Task[None]"] = None

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> Header:
        """Connects, starts the reader and the heartbeat, says ``HELLO``
        and returns ``WELCOME``'s header.  Raises ``ProtocolError``
        (``unknown_agent``) and ``Timeout``; the agent is closed then."""
        if self._closed:
            raise Closed("agent %s is closed" % self.agent)
        if self.socket is None:
            self.socket = self.context.socket(zmq.DEALER)
            dealer_options(self.socket, self.curve)
            self.socket.connect(self.endpoint)
            loop = asyncio.get_running_loop()
            self._last_send = loop.time()
            self._tasks = [loop.create_task(self._reader()),
                           loop.create_task(self._heartbeat())]
        try:
            return await self.hello()
        except BaseException:
            await self.close()
            raise

    async def __aenter__(self) -> "Agent":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._closed

    async def close(self, bye: bool = False) -> None:
        """Stops the tasks and closes the socket (after ``BYE`` when
        asked).  Every wait in progress ends with ``Closed``; the ``async
        for`` over the agent ends.  Closing twice is harmless."""
        if self._closed:
            return
        if bye and self.socket is not None:
            try:
                await self._send("BYE", {})
            except AgentbusError:
                pass
        self._closed = True
        tasks = list(self._tasks)
        if self._rehello is not None:
            tasks.append(self._rehello)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except BaseException:
                pass
        error = Closed("agent %s is closed" % self.agent)
        for entry in self._pending:
            if entry.waiting:
                assert entry.future is not None
                entry.future.set_exception(error)
        self._pending = []
        for request in self._requests.values():
            request.queue.put_nowait(error)
        self._deliveries.put_nowait(None)
        if self.socket is not None:
            self.socket.close(0)
        if self._own_context:
            self.context.term()

    def _check_open(self) -> zmq.asyncio.Socket:
        if self._closed or self.socket is None:
            raise Closed("agent %s is %s" % (
                self.agent, "closed" if self._closed else "not started"))
        return self.socket

    # -- sending ------------------------------------------------------------

    async def _send(self, command: str, header: Header,
                    payload: Any = NOTHING,
                    attachments: Sequence[Buffer] = (),
                    future: Optional["asyncio.Future[Any]"] = None,
                    msg: Optional[str] = None,
                    frames: Optional[List[Any]] = None) -> _Pending:
        """Sends one command and records it as pending (in order)."""
        socket = self._check_open()
        if frames is None:
            frames = build_frames(command, header, payload, attachments)
        entry = _Pending(command, frames, future, msg)
        async with self._lock:
            entry.seq = next(self._seq)
            self._last_seq = entry.seq
            self._pending.append(entry)
            try:
                await socket.send_multipart(frames, copy=False)
            except BaseException:
                self._pending.remove(entry)
                raise
            self._last_send = asyncio.get_running_loop().time()
        return entry

    async def _await(self, future: "asyncio.Future[Any]",
                     timeout_ms: Optional[int], what: str) -> Any:
        ms = self.timeout_ms if timeout_ms is None else timeout_ms
        try:
            return await asyncio.wait_for(future, ms / 1000.0)
        except asyncio.TimeoutError:
            raise Timeout("no answer to %s within %d ms" % (what, ms))

    async def _call(self, command: str, header: Header, payload: Any,
                    attachments: Sequence[Buffer], timeout_ms: Optional[int],
                    msg: Optional[str] = None) -> Any:
        """Sends a command and waits for its answer."""
        future: "asyncio.Future[Any]" = \
            asyncio.get_running_loop().create_future()
        await self._send(command, header, payload, attachments, future, msg)
        return await self._await(future, timeout_ms, command)

    # -- session ------------------------------------------------------------

    async def hello(self, timeout_ms: Optional[int] = None) -> Header:
        """Says ``HELLO`` and waits for ``WELCOME`` (returned, and kept in
        ``welcome``); raises ``ProtocolError`` on ``ERROR``
        (``unknown_agent``, ``unauthorized``) and ``Timeout``."""
        header = {"agent": self.agent, "credit": self.credit_window,
                  "instance": self.instance}
        answer = await self._call("HELLO", header, NOTHING, (), timeout_ms)
        assert isinstance(answer, dict)
        return answer

    async def ping(self, timeout_ms: Optional[int] = None) -> Header:
        """Sends ``PING`` and waits for ``PONG``; returns its header."""
        answer = await self._call("PING", {}, NOTHING, (), timeout_ms)
        assert isinstance(answer, dict)
        return answer

    async def credit(self, n: int) -> None:
        """Sets this instance's in-flight window (``CREDIT``)."""
        self.credit_window = n
        await self._send("CREDIT", {"credit": n})

    async def bye(self) -> None:
        """Says ``BYE``: the broker forgets this instance and requeues its
        in-flight copies without counting an attempt."""
        await self._send("BYE", {})

    # -- messages -----------------------------------------------------------

    async def publish(self, type: str, payload: Any,
                      version: Optional[int] = None,
                      id: Optional[str] = None, seq: Optional[int] = None,
                      ttl_ms: Optional[int] = None,
                      traceparent: Optional[str] = None,
                      attachments: Sequence[Buffer] = (),
                      timeout_ms: Optional[int] = None) -> Header:
        """Publishes (``PUB``) and waits for ``OK``; returns its header
        (``{"id", "routed"}``).  numpy arrays in ``payload`` are sent as
        tensor attachments after ``attachments``.  Raises ``Rejected``,
        ``ProtocolError``, ``Timeout``, ``Closed``."""
        header = pub_header(type, version, id, seq, ttl_ms, traceparent)
        answer = await self._call("PUB", header, payload, attachments,
                                  timeout_ms)
        assert isinstance(answer, dict)
        return answer

    async def request_stream(self, type: str, payload: Any,
                             timeout_ms: Optional[int] = None,
                             version: Optional[int] = None,
                             id: Optional[str] = None,
                             ttl_ms: Optional[int] = None,
                             traceparent: Optional[str] = None,
                             attachments: Sequence[Buffer] = ()
                             ) -> AsyncIterator[Reply]:
        """Sends ``REQ`` and yields every ``Reply`` (``async for``): the
        partial ones as they stream in, the final one last.  Raises
        ``Rejected`` (``timeout`` and every ``PUB`` code), ``Timeout``
        when not even the broker's ``REJECT timeout`` came in time
        (``timeout_ms`` + 5 s, or ``request_timeout_ms`` without one),
        ``SessionLost``, ``Closed``."""
        if id is None:
            id = "req-%d-%s" % (next(self._ids), uuid.uuid4().hex[:8])
        header = pub_header(type, version, id, None, ttl_ms, traceparent)
        if timeout_ms is not None:
            header["timeout_ms"] = timeout_ms
        local = (self.request_timeout_ms if timeout_ms is None
                 else timeout_ms + REQUEST_GRACE_MS)
        frames = build_frames("REQ", header, payload, attachments)
        request = _Request(frames)
        self._requests[id] = request
        try:
            entry = await self._send("REQ", header, frames=frames)
            request.seq = entry.seq
            while True:
                try:
                    item = await asyncio.wait_for(request.queue.get(),
                                                  local / 1000.0)
                except asyncio.TimeoutError:
                    raise Timeout("no reply to request %s within %d ms"
                                  % (id, local))
                if isinstance(item, BaseException):
                    raise item
                if item.command == "REJECT":
                    raise rejected(item.header)
                reply = Reply(item)
                yield reply
                if not reply.partial:
                    return
        finally:
            if self._requests.get(id) is request:
                del self._requests[id]

    async def request(self, type: str, payload: Any,
                      timeout_ms: Optional[int] = None,
                      on_partial: Optional[
                          Callable[[Reply], Optional[Awaitable[None]]]]
                      = None, **kwargs: Any) -> Reply:
        """Sends ``REQ`` and returns the final ``Reply``; partial replies
        go to ``on_partial`` (a function or a coroutine function) as they
        arrive.  Takes the keyword arguments of ``request_stream``."""
        stream = self.request_stream(type, payload, timeout_ms, **kwargs)
        async for reply in stream:
            if not reply.partial:
                return reply
            if on_partial is not None:
                result = on_partial(reply)
                if result is not None:
                    await result
        raise ProtocolError(None, "request ended without a final reply")

    async def receive(self, timeout_ms: Optional[int] = None
                      ) -> Optional[Delivery]:
        """The next ``Delivery``, or None when ``timeout_ms`` passes (None:
        the agent's default).  Raises ``Closed`` once the agent is
        closed."""
        self._check_open()
        ms = self.timeout_ms if timeout_ms is None else timeout_ms
        try:
            delivery = await asyncio.wait_for(self._deliveries.get(),
                                              ms / 1000.0)
        except asyncio.TimeoutError:
            return None
        if delivery is None:
            self._deliveries.put_nowait(None)
            raise Closed("agent %s is closed" % self.agent)
        return delivery

    def __aiter__(self) -> "Agent":
        return self

    async def __anext__(self) -> Delivery:
        """The next delivery; the iteration ends when the agent is
        closed."""
        if self._closed and self._deliveries.empty():
            raise StopAsyncIteration
        delivery = await self._deliveries.get()
        if delivery is None:
            self._deliveries.put_nowait(None)
            raise StopAsyncIteration
        return delivery

    # -- the reader ---------------------------------------------------------

    async def _reader(self) -> None:
        socket = self._check_open()
        while True:
            try:
                frames = await socket.recv_multipart(copy=False)
            except zmq.ZMQError:
                return
            try:
                message = parse_frames(frames)
            except ProtocolError as exc:
                self.errors.append({"code": None, "message": str(exc)})
                continue
            try:
                self._on_message(message)
            except Exception as exc:  # our bug: keep reading, but say it
                self.errors.append({"code": None, "message":
                                    "reader: %r" % exc})

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.heartbeat or not self.heartbeat_ms:
                await asyncio.sleep(0.1)
                continue
            due = self._last_send + self.heartbeat_ms / 2000.0
            now = loop.time()
            if now < due:
                await asyncio.sleep(due - now)
                continue
            try:
                await self._send("PING", {})
            except (AgentbusError, zmq.ZMQError):
                return

    def _resolve(self, entry: _Pending, result: Any) -> None:
        """``entry`` got its answer: it and every answer-on-failure command
        sent before it are done."""
        self._pending = [e for e in self._pending if e is not entry and
                         not (e.kind in _MAYBE and e.seq < entry.seq)]
        if entry.waiting:
            assert entry.future is not None
            if isinstance(result, BaseException):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)

    def _oldest(self, kinds: Optional[frozenset[str]],
                msg: Optional[str] = None) -> Optional[_Pending]:
        for entry in self._pending:
            if kinds is not None and entry.kind not in kinds:
                continue
            if msg is not None and entry.msg != msg:
                continue
            return entry
        return None

    def _on_message(self, m: Message) -> None:
        h = m.header
        if m.command == "DELIVER":
            self._deliveries.put_nowait(Delivery(self, m))
        elif m.command == "REPLY":
            request = self._requests.get(h.get("id", ""))
            if request is None:
                self.replies_dropped += 1
                return
            request.replies += 1
            request.queue.put_nowait(m)
        elif m.command == "WELCOME":
            self.welcome = h
            self.heartbeat_ms = h.get("heartbeat_ms")
            self.topology = h.get("topology")
            self.hello_count += 1
            entry = self._oldest(frozenset(["HELLO"]))
            if entry is not None:
                self._resolve(entry, h)
        elif m.command == "PONG":
            entry = self._oldest(frozenset(["PING"]))
            if entry is not None:
                self._resolve(entry, h)
        elif m.command in ("OK", "REJECT"):
            self._on_answer(m)
        elif m.command == "ERROR":
            self._on_error(h)
        else:
            self.errors.append({"code": None, "message":
                                "unexpected %s" % m.command, "header": h})

    def _on_answer(self, m: Message) -> None:
        h = m.header
        if "msg" in h:
            entry = self._oldest(frozenset(["REP"]), str(h["msg"]))
        else:
            request = self._requests.get(h.get("id", "")) \
                if m.command == "REJECT" else None
            if request is not None:
                entry = self._oldest(frozenset(["REQ"]))
                if entry is not None:
                    self._resolve(entry, None)
                request.queue.put_nowait(m)
                return
            entry = self._oldest(frozenset(["PUB"]))
        if entry is None:
            self.errors.append({"code": None, "message":
                                "%s for no command" % m.command,
                                "header": h})
            return
        self._resolve(entry, rejected(h) if m.command == "REJECT" else h)

    def _on_error(self, h: Header) -> None:
        code = h.get("code")
        if code == "not_registered":
            self._session_lost()
            return
        entry = self._oldest(_ERROR_SOURCES.get(str(code)))
        if entry is None or not entry.waiting:
            self.errors.append(h)
            if entry is not None:
                self._pending.remove(entry)
            return
        self._resolve(entry, protocol_error(h))

    # -- re-HELLO -----------------------------------------------------------

    def _session_lost(self) -> None:
        """ERROR not_registered: say HELLO again (once), then send again
        what was waiting."""
        if self._closed:
            return
        if any(e.kind == "HELLO" for e in self._pending):
            return  # a HELLO is on its way: the rest answer older commands
        if self._rehello is not None and not self._rehello.done():
            return
        self._rehello = asyncio.get_running_loop().create_task(
            self._hello_again(self._last_seq))

    async def _hello_again(self, stale_upto: int) -> None:
        try:
            await self.hello()
        except (AgentbusError, zmq.ZMQError):
            return  # the next not_registered tries again
        stale = [e for e in self._pending if e.seq <= stale_upto]
        self._pending = [e for e in self._pending if e.seq > stale_upto]
        for entry in stale:
            if entry.kind in ("PUB", "REP", "PING") and entry.waiting:
                await self._send(entry.kind, {}, future=entry.future,
                                 msg=entry.msg, frames=entry.frames)
        for request in list(self._requests.values()):
            if request.seq == 0 or request.seq > stale_upto:
                continue
            if request.replies:
                request.queue.put_nowait(SessionLost(
                    "the broker forgot this instance during a streamed "
                    "reply"))
                continue
            entry = await self._send("REQ", {}, frames=request.frames)
            request.seq = entry.seq


__all__ = ["Agent", "Delivery"]
