# Over 300 lines: the only API client (STYLE.md): its session, its error type and one method per verb.
"""The only module that talks to the Kubernetes API: server-side apply, deletes, status and events.

One pooled aiohttp session with the credentials Kopf logged in with, so that the operator has one way to
reach the API server and no per-request discovery: every kind the operator writes has a known path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import ssl
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from modeldeploy import metrics
from modeldeploy.api import API_KINDS, MD_API_VERSION, MD_KIND, MD_PLURAL
from modeldeploy.messages import EVENT_MESSAGE_MAX, bounded

FIELD_MANAGER = "modeldeploy"
# The largest etcd revision (an int64): a resourceVersion no existing object has (see KubeClient.apply).
CREATE_ONLY_VERSION = str(2**63 - 1)

# (apiVersion, kind) -> plural resource name. Paths are derived from it, never discovered.
RESOURCES: dict[tuple[str, str], str] = {kind.key: kind.plural for kind in API_KINDS}


class ApiError(RuntimeError):
    def __init__(self, status: int, verb: str, path: str, body: str) -> None:
        self.status = status
        self.path = path
        self.reason = _reason_of(body)
        # Field-level causes of a 422 Invalid: [{"field": "spec.template...", "message": ..., "reason": ...}].
        self.causes = _causes_of(body)
        # The API server refuses new objects in a namespace under deletion with 403 and this wording.
        self.namespace_terminating = status == 403 and "because it is being terminated" in self.reason
        super().__init__(f"{verb} {path} failed with HTTP {status}: {self.reason}")

    @property
    def name_taken(self) -> bool:
        """A create-only apply (``KubeClient.apply(create_only=True)``) met an existing object."""
        return self.status == 409 and "the object has been modified" in self.reason

    @property
    def uid_mismatch(self) -> bool:
        """The object under this name is not the one we meant (our writes carry its metadata.uid)."""
        return self.status in (409, 422) and (
            any(c.get("field") == "metadata.uid" for c in self.causes)
            or "Precondition failed: UID" in self.reason
        )


def _reason_of(body: str) -> str:
    try:
        return str(json.loads(body).get("message", body))
    except (ValueError, AttributeError):
        return body[:500]


def _causes_of(body: str) -> list[dict[str, str]]:
    try:
        causes = (json.loads(body).get("details") or {}).get("causes") or []
    except (ValueError, AttributeError):
        return []
    return [{k: str(v) for k, v in c.items()} for c in causes if isinstance(c, dict)]


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    plural = RESOURCES[(api_version, kind)]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


@dataclass(frozen=True)
class Credentials:
    """What the client needs to reach the API server; built from Kopf's ConnectionInfo."""

    server: str
    ca_path: str | None = None
    ca_data: str | None = None
    insecure: bool = False
    token: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    headers: Mapping[str, str] | None = None


def credentials_from_kopf(info: Any) -> Credentials:
    """Kopf's ConnectionInfo may carry certificates as data; aiohttp's ssl wants files or a context."""
    cert_path = info.certificate_path
    key_path = info.private_key_path
    if info.certificate_data or info.private_key_data:
        cert_path, key_path = _write_temp_pair(info.certificate_data, info.private_key_data)
    ca_data = info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data
    return Credentials(
        server=info.server,
        ca_path=str(info.ca_path) if info.ca_path else None,
        ca_data=ca_data,
        insecure=bool(info.insecure),
        token=info.token,
        certificate_path=str(cert_path) if cert_path else None,
        private_key_path=str(key_path) if key_path else None,
        headers=info.as_http_headers(),
    )


def _write_temp_pair(cert: str | bytes | None, key: str | bytes | None) -> tuple[str, str]:
    import os
    import tempfile

    paths = []
    for data in (cert, key):
        fd, path = tempfile.mkstemp(prefix="modeldeploy-", suffix=".pem")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else (data or b""))
        os.chmod(path, 0o600)
        paths.append(path)
    return paths[0], paths[1]


def _ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if creds.insecure:
        return False
    context = ssl.create_default_context(cafile=creds.ca_path, cadata=creds.ca_data)
    if creds.certificate_path and creds.private_key_path:
        context.load_cert_chain(creds.certificate_path, creds.private_key_path)
    return context


EVENT_SENDERS = 2  # events go out beside the reconcile workers, never in front of their applies
EVENT_BACKLOG = 10_000  # beyond this many unsent events, new ones are dropped (they are best effort)


class KubeClient:
    """Server-side apply and friends over one pooled HTTP session.

    With ``background_events`` (the operator's setting), ``create_event`` queues the Event and returns:
    a few sender tasks post them, so that a reconcile worker's time goes to the children and the status,
    and Events never slow the creation of N ModelDeployments. ``close`` sends what is queued first.
    """

    def __init__(
        self,
        creds: Credentials,
        *,
        pool_size: int = 32,
        timeout: float = 30,
        background_events: bool = True,
    ) -> None:
        self._creds = creds
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._background_events = background_events
        self._events: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self._senders: list[asyncio.Task[None]] = []

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ssl=_ssl_context(self._creds))
            self._session = aiohttp.ClientSession(
                base_url=self._creds.server,
                connector=connector,
                timeout=self._timeout,
                headers=dict(self._creds.headers or {}),
            )
        return self._session

    async def _watch_http(self) -> aiohttp.ClientSession:
        # Watches hold their connection for minutes: on the request pool they would starve the applies.
        if self._watch_session is None or self._watch_session.closed:
            connector = aiohttp.TCPConnector(limit=0, ssl=_ssl_context(self._creds))
            self._watch_session = aiohttp.ClientSession(
                base_url=self._creds.server,
                connector=connector,
                headers=dict(self._creds.headers or {}),
            )
        return self._watch_session

    async def close(self, drain_timeout: float = 5) -> None:
        if self._events is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._events.join(), drain_timeout)
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders.clear()
        self._events = None
        if self._session is not None:
            await self._session.close()
        if self._watch_session is not None:
            await self._watch_session.close()

    async def request(
        self,
        verb: str,
        method: str,
        path: str,
        resource: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        session = await self._http()
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": accept}
        # Paths are absolute; aiohttp's base_url requires them relative to it.
        async with session.request(
            method, path.lstrip("/"), data=data, headers=headers, params=params
        ) as resp:
            text = await resp.text()
            metrics.API_REQUESTS.labels(verb=verb, resource=resource, code=str(resp.status)).inc()
            if resp.status >= 400:
                raise ApiError(resp.status, verb, path, text)
            return json.loads(text) if text else {}

    async def watch(
        self, path: str, resource: str, params: Mapping[str, str], timeout: float
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Stream a watch: yields each event ({"type", "object"}) as the API server sends it.

        ``timeout`` bounds the silence between two chunks (the server ends a watch after its own
        timeoutSeconds; bookmarks arrive about once a minute), not the whole stream.
        """
        session = await self._watch_http()
        client_timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=timeout)
        async with session.get(
            path.lstrip("/"),
            params={**params, "watch": "true"},
            headers={"Accept": "application/json"},
            timeout=client_timeout,
        ) as resp:
            metrics.API_REQUESTS.labels(verb="watch", resource=resource, code=str(resp.status)).inc()
            if resp.status >= 400:
                raise ApiError(resp.status, "watch", path, await resp.text())
            # Not `async for line in resp.content`: aiohttp caps a line at 64 KiB and objects can be larger.
            buffer = bytearray()
            async for chunk in resp.content.iter_any():
                buffer.extend(chunk)
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if line.strip():
                        yield json.loads(line)

    async def get_text(self, path: str) -> str:
        """GET a non-JSON endpoint, e.g. the API server's own /metrics (not counted as an API request)."""
        session = await self._http()
        async with session.get(path.lstrip("/"), headers={"Accept": "text/plain"}) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise ApiError(resp.status, "get", path, text)
            return text

    async def apply(
        self, obj: Mapping[str, Any], *, dry_run: bool = False, create_only: bool = False
    ) -> dict[str, Any]:
        """Server-side apply with our field manager; force, since we own what we apply by design.

        To update, callers put the child's ``metadata.uid`` in ``obj``: the API server refuses to change
        an object's uid, so the apply changes only that object, never another one re-created under the
        name. ``create_only``: the apply creates the object, or changes nothing and fails with 409
        Conflict (``ApiError.name_taken``) when an object of that name exists, whoever wrote it.
        """
        meta = obj["metadata"]
        if create_only:
            # An apply's metadata.resourceVersion is a precondition on an existing object and ignored
            # when it creates one (apiserver registry/generic/registry/store.go Update: only an existing
            # object's version is compared; storage clears it on create). No object can hold this
            # version: etcd revisions are int64 and count up from 1.
            obj = {**obj, "metadata": {**meta, "resourceVersion": CREATE_ONLY_VERSION}}
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return await self.request(
            "dry-run" if dry_run else "apply",
            "PATCH",
            path,
            RESOURCES[(obj["apiVersion"], obj["kind"])],
            body=obj,
            content_type="application/apply-patch+yaml",
            params=params,
        )

    async def merge_patch(self, obj: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch on the child ``obj`` names (with its uid as a precondition)."""
        meta = obj["metadata"]
        body = {**patch, "metadata": {**(patch.get("metadata") or {}), "uid": meta["uid"]}}
        return await self.request(
            "patch",
            "PATCH",
            object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]),
            RESOURCES[(obj["apiVersion"], obj["kind"])],
            body=body,
            content_type="application/merge-patch+json",
            params={"fieldManager": FIELD_MANAGER},
        )

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str, *, cached: bool = False
    ) -> dict[str, Any] | None:
        """One object, or None. ``cached``: from the API server's watch cache (resourceVersion=0), which
        costs it no etcd read but may lag a write by a moment."""
        try:
            return await self.request(
                "get",
                "GET",
                object_path(api_version, kind, namespace, name),
                RESOURCES[(api_version, kind)],
                params={"resourceVersion": "0"} if cached else None,
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": MD_API_VERSION,
            "kind": MD_KIND,
            "metadata": {"name": name, "namespace": namespace},
            "status": status,
        }
        return await self.request(
            "apply",
            "PATCH",
            object_path(MD_API_VERSION, MD_KIND, namespace, name) + "/status",
            f"{MD_PLURAL}/status",
            body=body,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )

    async def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        """Delete one child, only if it is still the object we saw (uid precondition)."""
        try:
            await self.request(
                "delete",
                "DELETE",
                object_path(api_version, kind, namespace, name),
                RESOURCES[(api_version, kind)],
                body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}},
            )
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    async def create_event(self, md: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        meta = md["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": MD_API_VERSION,
                "kind": MD_KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": bounded(message, EVENT_MESSAGE_MAX),
            "source": {"component": "modeldeploy"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "modeldeploy",
        }
        path = object_path("v1", "Event", meta["namespace"])
        if not self._background_events:
            await self._post_event(path, event)
            return
        if self._events is None:
            self._events = asyncio.Queue(maxsize=EVENT_BACKLOG)
            self._senders = [
                asyncio.create_task(self._send_events(self._events), name=f"modeldeploy-events-{number}")
                for number in range(EVENT_SENDERS)
            ]
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait((path, event))

    async def _send_events(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            path, event = await queue.get()
            try:
                await self._post_event(path, event)
            finally:
                queue.task_done()

    async def _post_event(self, path: str, event: dict[str, Any]) -> None:
        # Events are best effort: losing one must never fail a reconcile.
        with contextlib.suppress(TimeoutError, ApiError, aiohttp.ClientError):
            await self.request("create", "POST", path, "events", body=event)
