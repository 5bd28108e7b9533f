"""Streams file uploads to disk before Streamlit sees them.

Streamlit's own upload route reads a whole upload into memory: a 2 GB mzML file
would cost the web server 2 GB of RAM, and a few visitors at once could take it
down. This ASGI middleware sits in front of that route. For
``PUT /_stcore/upload_file/<session>/<file id>`` it parses the multipart body as it
arrives and writes the file in chunks into the session's workspace through an
:class:`~src.core.workspace.uploads.UploadSink` (size limit, quota, free-disk guard), then
hands Streamlit's route a few-byte *ticket* in place of the file. That route still
does everything else (XSRF and session checks, telling the widget the file is
there). The page turns the ticket back into the file, or into the refusal's
message, when the user presses "Add files" (``src/ui/workflow_ui.py``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.core.errors import InputError
from src.core.workspace import (
    UploadSink,
    display_name,
    safe_forward_name,
    spool_path,
    ticket,
    too_large_message,
)
from src.web import sessions
from src.workflows import upload_types

log = logging.getLogger(__name__)

UPLOAD_ROUTE = re.compile(r"/_stcore/upload_file/(?P<session>[^/]+)/(?P<file>[^/]+)$")
#: Room for the multipart framing around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
#: The framing a browser puts around one file is at most this long (boundaries, part headers).
MULTIPART_FRAMING = 1024
#: Body bytes collected before they are parsed and written (in a worker thread, off the event loop).
WRITE_BATCH = 1024**2


class _FilePart:
    """The multipart parse of one upload: the first part goes to a sink; a refusal is remembered."""

    def __init__(self, target: sessions.UploadTarget, token: str, expected: int) -> None:
        self.target, self.token, self.expected = target, token, expected
        self.parts = 0
        self.headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self.sink: UploadSink | None = None
        self.spooled = False
        self.refused = ""
        self.raw_name = ""  # the file name as the browser (or a forged request) sent it
        self.malformed = False  # the body could not be parsed: the rest of it is dropped

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
        }

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _part_begin(self) -> None:
        self.parts += 1

    def _header_end(self) -> None:
        if self.parts == 1:
            self.headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        if self.parts != 1:
            return
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.raw_name = options.get(b"filename", b"").decode("utf-8", errors="replace")
        settings = self.target.settings
        try:
            self.sink = UploadSink(
                self.target.workspace,
                self.token,
                self.raw_name,
                settings.limits,
                settings.workspaces_dir,
                self.expected,
                upload_types(),
            )
        except InputError as err:
            self.refused = str(err)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.parts != 1 or self.sink is None:
            return
        try:
            self.sink.write(data[start:end])
        except InputError as err:
            self.refuse(str(err))

    def refuse(self, message: str) -> None:
        self.refused = message
        self.discard()

    def finish(self) -> bytes:
        """The ticket for Streamlit: where the file was written, or why it was refused."""
        if self.sink is not None and not self.refused:
            try:
                self.sink.close()
                self.spooled = True
                log.info("upload %s stored (%d bytes)", self.token, self.sink.size)
            except InputError as err:
                self.refuse(str(err))
        if self.refused:
            log.info("upload %s refused: %s", self.token, self.refused)
        return ticket(
            token=self.token if self.spooled else "", refused=self.refused, name=display_name(self.raw_name)
        )

    def discard(self) -> None:
        if self.sink is not None:
            self.sink.discard()
            self.sink = None
        self.spooled = False


class StreamedUploads:
    """ASGI middleware: file uploads go to disk in chunks; every other request passes untouched.

    The body is parsed by python-multipart's push parser, the one Starlette's own form parsing
    uses; Starlette's ``request.form()`` is not, as it spools each file to a temporary file of its
    own, outside the workspace's quota and limits, before anything could refuse it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = UPLOAD_ROUTE.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope["method"] != "PUT":
            await self.app(scope, receive, send)
            return
        target = sessions.target(match["session"])
        if target is None:
            message = "This upload does not belong to an open page. Reload the page and upload again."
            await _plain(400, message)(scope, receive, send)
            return
        await self._spool(Request(scope, receive), send, target, match["file"])

    async def _spool(self, request: Request, send: Send, target: sessions.UploadTarget, file_id: str) -> None:
        scope, receive = request.scope, request.receive
        limits = target.settings.limits
        cap = limits.max_upload_bytes + MULTIPART_OVERHEAD
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            await _plain(413, too_large_message("The upload", limits))(scope, receive, send)
            return
        _, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        try:
            spool_path(target.workspace, file_id)
        except InputError as err:
            await _plain(400, str(err))(scope, receive, send)
            return
        if not boundary:
            await _plain(400, "An upload must be sent as multipart/form-data.")(scope, receive, send)
            return
        # The body's length less its multipart framing is (nearly) the file's size: enough to refuse
        # at once what cannot fit, instead of after receiving it.
        expected = max(0, int(declared) - MULTIPART_FRAMING) if declared.isdigit() else 0
        part = _FilePart(target, file_id, expected)
        try:
            body = await self._receive_into(part, MultipartParser(boundary, part.callbacks()), request, cap)
        except _Abort as abort:
            part.discard()
            if abort.status:
                await _plain(abort.status, abort.message)(scope, receive, send)
            return
        except BaseException:
            part.discard()
            raise
        await self._forward(scope, send, receive, part, body)

    @staticmethod
    async def _receive_into(part: _FilePart, parser: MultipartParser, request: Request, cap: int) -> bytes:
        """Read the whole body into the parser (and so the sink) as it arrives; return the ticket.

        A body that is not valid multipart data (a forged request: a CR/LF inside the file name,
        no file part) is still answered with a ticket, whose refusal the page shows when the
        visitor adds the files, instead of an error only the upload widget's icon would show.
        """
        received, batch, batched = 0, [], 0
        try:
            async with contextlib.aclosing(request.stream()) as chunks:
                async for chunk in chunks:  # the last chunk is empty: the body is complete
                    received += len(chunk)
                    if received > cap:
                        sink_name = part.sink.name if part.sink else "The upload"
                        raise _Abort(413, too_large_message(sink_name, part.target.settings.limits))
                    batch.append(chunk)
                    batched += len(chunk)
                    if chunk and batched < WRITE_BATCH:
                        continue
                    if part.malformed:
                        batch, batched = [], 0  # the rest is read and dropped
                        continue
                    data, batch, batched = b"".join(batch), [], 0
                    try:
                        await anyio.to_thread.run_sync(parser.write, data)
                    except FormParserError as err:
                        part.malformed = True
                        part.refuse(f"the upload was not valid multipart data ({err}), so nothing was stored")
        except ClientDisconnect:
            raise _Abort(0, "") from None  # the browser went away: nothing to answer, nothing kept
        if not part.malformed:
            parser.finalize()
        if not part.malformed and (part.parts == 0 or b"content-disposition" not in part.headers):
            part.refuse("the upload held no file")
        return await anyio.to_thread.run_sync(part.finish)

    async def _forward(
        self, scope: Scope, send: Send, receive: Receive, part: _FilePart, ticket_bytes: bytes
    ) -> None:
        """Pass Streamlit's route a small multipart body with the ticket in place of the file, under a
        file name of our own making: Streamlit answers a name it does not accept (no .mzML, NUL,
        "..") with a traceback on the page, so it never sees the browser's; the ticket keeps that
        name for the page's message."""
        boundary = f"openms-{uuid.uuid4().hex}".encode()
        forwarded = safe_forward_name(part.raw_name, upload_types())
        disposition = f'form-data; name="file"; filename="{forwarded}"'.encode()
        body = b"".join(
            [
                b"--" + boundary + b"\r\n",
                b"Content-Disposition: " + disposition + b"\r\n",
                b"Content-Type: application/octet-stream\r\n\r\n",
                ticket_bytes,
                b"\r\n--" + boundary + b"--\r\n",
            ]
        )
        scope = {**scope, "headers": list(scope["headers"])}  # the browser's request keeps its own
        headers = MutableHeaders(scope=scope)
        del headers["transfer-encoding"]
        headers["content-type"] = "multipart/form-data; boundary=" + boundary.decode()
        headers["content-length"] = str(len(body))
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = {"code": 500}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, watch)
        finally:
            if status["code"] >= 300 and part.spooled:
                log.warning(
                    "Streamlit refused upload %s (HTTP %s); its file was removed", part.token, status["code"]
                )
                spool_path(part.target.workspace, part.token).unlink(missing_ok=True)


class _Abort(Exception):
    """End an upload early with this HTTP status and message (status 0: no answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _plain(status: int, text: str) -> PlainTextResponse:
    return PlainTextResponse(text, status, headers={"connection": "close"})
