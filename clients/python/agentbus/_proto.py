# _proto.py - ABP/1 frames, exceptions and tensors, shared by both agents
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""What the synchronous and the asyncio agent share: the frame table
(``parse_frames``, ``build_frames``), the exceptions, the answer types and
tensors (``encode_payload``, ``tensor_from``)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import zmq

try:
    import numpy
except ImportError:  # numpy is optional: only tensors need it
    numpy = None  # type: ignore[assignment]

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

#: Attachments at least this long are sent without copying (a zmq.Frame
#: over the caller's buffer); shorter ones are copied, which costs less
#: than the zero-copy bookkeeping (pyzmq's own threshold).
ZERO_COPY_BYTES = 65536

#: A buffer that can be sent as a frame.
Buffer = Union[bytes, bytearray, memoryview, zmq.Frame, Any]

#: A JSON header (a dict) as the broker sends it.
Header = Dict[str, Any]


class _Nothing:
    """The type of ``NOTHING``: "no payload frame", not a JSON null."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING = _Nothing()


class AgentbusError(Exception):
    """Base class of every error this package raises."""


class ProtocolError(AgentbusError):
    """The broker answered ``ERROR`` (``code``, ``message``), or sent
    something that breaks the ABP/1 frame table (``code`` is None)."""

    def __init__(self, code: Optional[str], message: str = "",
                 header: Optional[Header] = None) -> None:
        super().__init__("%s: %s" % (code, message) if code else message)
        self.code = code
        self.message = message
        self.header: Header = header or {}


class Rejected(AgentbusError):
    """The broker answered ``REJECT``: ``code`` (``invalid``,
    ``unknown_type``, ``timeout``...), ``message`` and, for ``invalid``,
    ``errors`` (a list of ``{path, keyword, schema_path, message}``)."""

    def __init__(self, code: Optional[str], message: str = "",
                 errors: Optional[List[Dict[str, Any]]] = None,
                 header: Optional[Header] = None) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.errors: List[Dict[str, Any]] = errors or []
        self.header: Header = header or {}


class Timeout(AgentbusError, TimeoutError):
    """No answer arrived in time (a local deadline, not a broker
    ``REJECT timeout``, which is ``Rejected``)."""


class Closed(AgentbusError):
    """The agent was closed (by ``close()``) while, or before, a call
    waited on its socket."""


class SessionLost(AgentbusError):
    """The broker forgot this instance (it restarted, or declared it
    dead) while a streamed request had already received partial replies:
    the rest of the stream is lost."""


def rejected(header: Header) -> Rejected:
    """The ``Rejected`` for a REJECT header."""
    return Rejected(header.get("code"), header.get("message", ""),
                    header.get("errors"), header)


def protocol_error(header: Header) -> ProtocolError:
    """The ``ProtocolError`` for an ERROR header."""
    return ProtocolError(header.get("code"), header.get("message", ""),
                         header)


class Message:
    """One parsed ABP/1 message: ``command`` (str), ``header`` (dict),
    ``payload`` (JSON value, or None when absent), ``has_payload``,
    ``attachments`` (list of memoryview over the received frames) and the
    raw ``frames``."""

    def __init__(self, command: str, header: Header, payload: Any,
                 has_payload: bool, attachments: List[memoryview],
                 frames: Sequence[Any]) -> None:
        self.command = command
        self.header = header
        self.payload = payload
        self.has_payload = has_payload
        self.attachments = attachments
        self.frames = frames

    def __repr__(self) -> str:
        return "<Message %s %r>" % (self.command, self.header)


def _frame_bytes(frame: Any) -> bytes:
    return frame.bytes if isinstance(frame, zmq.Frame) else bytes(frame)


def _frame_view(frame: Any) -> memoryview:
    if isinstance(frame, zmq.Frame):
        view: memoryview = frame.buffer
        return view
    return memoryview(frame)


def parse_frames(frames: Sequence[Any]) -> Message:
    """Parses a received multipart message into a ``Message``.  Raises
    ``ProtocolError`` (code None) when it breaks the frame table."""
    if len(frames) < 3:
        raise ProtocolError(None, "message of %d frames" % len(frames))
    if _frame_bytes(frames[0]) != SIGNATURE:
        raise ProtocolError(None,
                            "bad signature %r" % _frame_bytes(frames[0]))
    command = _frame_bytes(frames[1])
    try:
        header = json.loads(_frame_bytes(frames[2]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(None, "header is not JSON: %s" % exc)
    if not isinstance(header, dict):
        raise ProtocolError(None, "header is not a JSON object")
    payload: Any = None
    has_payload, first_attachment = False, 3
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


def _tensor_frame(array: Any) -> Tuple[Dict[str, Any], Any]:
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


def encode_payload(payload: Any, attachments: Sequence[Buffer] = ()
                   ) -> Tuple[bytes, List[Buffer]]:
    """Returns (JSON bytes, attachment list): every numpy array found in
    ``payload`` (dicts and lists are walked) becomes a tensor reference
    whose ``frame`` counts after the explicit ``attachments``."""
    frames: List[Buffer] = list(attachments)

    def walk(value: Any) -> Any:
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


def attachment_frame(buf: Buffer) -> Any:
    """The frame to send for one attachment: a ``zmq.Frame`` over ``buf``
    itself (no copy) when it is at least ``ZERO_COPY_BYTES`` long, else
    ``buf`` (pyzmq copies it)."""
    if isinstance(buf, zmq.Frame):
        return buf
    view = memoryview(buf)
    if view.nbytes >= ZERO_COPY_BYTES:
        return zmq.Frame(buf, copy=False)
    return buf


def build_frames(command: Union[str, bytes], header: Union[Header, Buffer],
                 payload: Any = NOTHING,
                 attachments: Sequence[Buffer] = ()) -> List[Any]:
    """The frames of one ABP/1 message.  ``header`` is a dict (or bytes,
    sent as is); ``payload`` a JSON value (or bytes, sent as is;
    ``NOTHING``: no frame 3); numpy arrays in the payload become
    attachments after ``attachments``."""
    frames: List[Any] = [SIGNATURE, command.encode("ascii")
                         if isinstance(command, str) else command]
    if isinstance(header, (bytes, bytearray, memoryview)):
        frames.append(header)
    else:
        frames.append(json.dumps(header, separators=(",", ":"))
                      .encode("utf-8"))
    extra: List[Buffer] = list(attachments)
    if payload is not NOTHING:
        if isinstance(payload, (bytes, bytearray, memoryview)):
            frames.append(payload)
        else:
            doc, extra = encode_payload(payload, extra)
            frames.append(doc)
    frames.extend(attachment_frame(a) for a in extra)
    return frames


def tensor_from(attachments: Sequence[memoryview], ref: Dict[str, Any]
                ) -> Any:
    """Views the attachment named by a tensor reference ``ref``
    (``{"dtype", "shape", "frame"}``) as a read-only numpy array, without
    copying: the array shares the received frame's buffer."""
    if numpy is None:
        raise AgentbusError("numpy is needed for tensors")
    if ref["dtype"] not in _DTYPES:
        raise ValueError("dtype %s has no numpy equivalent" % ref["dtype"])
    dtype = numpy.dtype(ref["dtype"]).newbyteorder("<")
    buf = attachments[ref["frame"]]
    array = numpy.frombuffer(buf, dtype=dtype).reshape(ref["shape"])
    array.flags.writeable = False  # the frame may be shared with others
    return array


def pub_header(type: str, version: Optional[int], id: Optional[str],
               seq: Optional[int], ttl_ms: Optional[int],
               traceparent: Optional[str]) -> Header:
    """A PUB/REQ header with the fields that were given."""
    header: Header = {"type": type}
    for key, value in (("version", version), ("id", id), ("seq", seq),
                       ("ttl_ms", ttl_ms), ("traceparent", traceparent)):
        if value is not None:
            header[key] = value
    return header


class _Received:
    """What a Delivery and a Reply share: header, payload, tensors."""

    header: Header
    payload: Any
    attachments: List[memoryview]
    frames: Sequence[Any]

    def tensor(self, ref: Union[str, Dict[str, Any]]) -> Any:
        """The tensor named by ``ref`` (a reference dict from the payload,
        or the key of one at the payload's top level) as a read-only numpy
        array over the received frame (no copy)."""
        if isinstance(ref, str):
            ref = self.payload[ref]
        assert isinstance(ref, dict)
        return tensor_from(self.attachments, ref)


class DeliveryBase(_Received):
    """One ``DELIVER``: a copy of a message for this instance.

    Header fields are attributes: ``msg`` (the copy's id, the same on every
    redelivery), ``type``, ``version``, ``sender`` (header ``from``),
    ``id``, ``attempt``, ``seq``, ``traceparent``, ``request`` (True when a
    reply is expected), ``reason`` and ``original`` (dead letters); the
    whole header is ``header``.  ``payload`` is the decoded JSON and
    ``attachments`` are memoryviews over the received frames."""

    def __init__(self, message: Message) -> None:
        h = message.header
        self.header = h
        self.msg: Optional[str] = h.get("msg")
        self.type: Optional[str] = h.get("type")
        self.version: Optional[int] = h.get("version")
        self.sender: Optional[str] = h.get("from")
        self.id: Optional[str] = h.get("id")
        self.attempt: Optional[int] = h.get("attempt")
        self.seq: Optional[int] = h.get("seq")
        self.traceparent: Optional[str] = h.get("traceparent")
        self.request = bool(h.get("request", False))
        self.reason: Optional[str] = h.get("reason")
        self.original: Optional[Dict[str, Any]] = h.get("original")
        self.payload = message.payload
        self.attachments = message.attachments
        self.frames = message.frames

    def __repr__(self) -> str:
        return "<Delivery %s %s attempt=%s>" % (self.msg, self.type,
                                                self.attempt)

    def _nack_header(self, requeue: bool, reason: Optional[str]) -> Header:
        header: Header = {"msg": self.msg, "requeue": bool(requeue)}
        if reason is not None:
            header["reason"] = reason
        return header


class Reply(_Received):
    """One ``REPLY`` to a request: ``id``, ``type``, ``version``,
    ``sender`` (``from``), ``partial``, ``header``, ``payload``,
    ``attachments`` and ``tensor(ref)`` as for a delivery."""

    def __init__(self, message: Message) -> None:
        h = message.header
        self.header = h
        self.id: Optional[str] = h.get("id")
        self.type: Optional[str] = h.get("type")
        self.version: Optional[int] = h.get("version")
        self.sender: Optional[str] = h.get("from")
        self.partial = bool(h.get("partial", False))
        self.payload = message.payload
        self.attachments = message.attachments
        self.frames = message.frames

    def __repr__(self) -> str:
        return "<Reply %s partial=%s>" % (self.type, self.partial)


class CurveKeys:
    """The keys of a CURVE client (Z85, 40 bytes each): this agent's
    ``public`` and ``secret`` key and the broker's public key
    (``server``)."""

    def __init__(self, public: bytes, secret: bytes, server: bytes) -> None:
        self.public = public
        self.secret = secret
        self.server = server

    def __repr__(self) -> str:  # never the secret
        return "<CurveKeys public=%s server=%s>" % (
            self.public.decode("ascii", "replace"),
            self.server.decode("ascii", "replace"))


class KeyFileError(AgentbusError):
    """A CURVE key file is missing or is not a czmq certificate."""


def load_curve_keys(key: str, server_key: str) -> CurveKeys:
    """Reads the agent's secret certificate ``key`` (``NAME.key_secret``)
    and the broker's public certificate ``server_key`` (``NAME.key``),
    czmq (``zcert``) files as ``agentbus keygen`` or pyzmq's
    ``zmq.auth.create_certificates`` write them.  Raises
    ``KeyFileError``."""
    import zmq.auth

    if not zmq.has("curve"):
        raise KeyFileError("this libzmq has no CURVE support")

    def load(path: str) -> Tuple[bytes, Optional[bytes]]:
        try:
            return zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise KeyFileError("%s: %s" % (path, exc)) from exc

    public, secret = load(key)
    if not secret:
        raise KeyFileError("%s: no secret-key (give the .key_secret file)"
                           % key)
    server, _ = load(server_key)
    for path, value in ((key, public), (key, secret), (server_key, server)):
        if len(value) != 40:
            raise KeyFileError("%s: a key is not 40 Z85 characters" % path)
    return CurveKeys(public, secret, server)


def dealer_options(socket: zmq.Socket,  # type: ignore[type-arg]
                   curve: Optional[CurveKeys] = None) -> None:
    """The DEALER options both agents use: no linger, ZMTP heartbeats so
    a dead connection is noticed and re-made, and the CURVE keys when
    given (set before connecting)."""
    if curve is not None:
        socket.setsockopt(zmq.CURVE_SERVERKEY, curve.server)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RECONNECT_IVL, 100)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
    socket.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
