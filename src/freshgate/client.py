"""Python client of the Freshgate API: `Freshgate` (sync) and `AsyncFreshgate` (httpx).

    from freshgate.client import Freshgate
    fg = Freshgate("http://127.0.0.1:8080", api_key="fg_...")   # or $FRESHGATE_API_KEY, or ./.freshgate-key
    answer = fg.lookup("what is our refund window?", risk="high")
    if answer["decision"] == "stop_and_ask":
        print(answer["ask"]["question"])

Every error response raises `FreshgateAPIError` carrying the problem+json body. Actions are
recorded as the key's principal; an operator key may pass `on_behalf_of` (both are recorded).
"""

from __future__ import annotations

from typing import Any

import httpx


class FreshgateAPIError(Exception):
    """An error answer of the API: HTTP status, stable `code` and the whole problem+json body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = problem.get("code", "error")
        self.detail = problem.get("detail", "")
        self.retry_after = problem.get("_retry_after")
        super().__init__(f"{status} {self.code}: {self.detail}")


def _lookup_body(query: str, risk: str, ids, tags, kinds, top_k) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "risk": risk}
    if ids or tags or kinds:
        body["scope"] = {"ids": list(ids or []), "tags": list(tags or []), "kinds": list(kinds or [])}
    if top_k is not None:
        body["top_k"] = top_k
    return body


def _headers(if_match: int | None) -> dict[str, str]:
    return {"If-Match": f'"{if_match}"'} if if_match is not None else {}


def _auth(api_key: str | None) -> dict[str, str]:
    from freshgate.auth.keyfile import find_api_key

    key = find_api_key(api_key)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _who(body: dict[str, Any], on_behalf_of: str | None) -> dict[str, Any]:
    return {**body, "on_behalf_of": on_behalf_of} if on_behalf_of else body


def _result(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            problem = r.json()
        except ValueError:
            problem = {"code": "http_error", "detail": r.text[:500]}
        if not isinstance(problem, dict):
            problem = {"code": "http_error", "detail": str(problem)[:500]}
        if "retry-after" in r.headers:
            problem["_retry_after"] = r.headers["retry-after"]
        raise FreshgateAPIError(r.status_code, problem)
    return r.json()


class Freshgate:
    """Synchronous client."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", *, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, client: httpx.Client | None = None) -> None:
        """`api_key`: default $FRESHGATE_API_KEY, else the server's first-start key file (./.freshgate-key)."""
        self._http = client or httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                         headers=_auth(api_key))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> "Freshgate":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lookup(self, query: str, *, risk: str = "low", ids=None, tags=None, kinds=None,
               top_k: int | None = None) -> dict[str, Any]:
        """Proceed, caution or stop_and_ask for a question or intended action."""
        return _result(self._http.post("/v1/lookup", json=_lookup_body(query, risk, ids, tags, kinds, top_k)))

    def document(self, doc_id: str) -> dict[str, Any]:
        """One document with state, owner, reasons and `revision` (for If-Match)."""
        return _result(self._http.get(f"/v1/documents/{doc_id}"))

    def verify(self, doc_id: str, *, note: str = "", on_behalf_of: str | None = None,
                if_match: int | None = None) -> dict[str, Any]:
        """Renew a document: its content is right as of now."""
        return _result(self._http.post(f"/v1/documents/{doc_id}/verify", json=_who({"note": note}, on_behalf_of),
                                       headers=_headers(if_match)))

    def update(self, doc_id: str, content: str, *, verify: bool = False, on_behalf_of: str | None = None,
               if_match: int | None = None) -> dict[str, Any]:
        """Replace a document's content (a new version)."""
        return _result(self._http.put(f"/v1/documents/{doc_id}/content", headers=_headers(if_match),
                                      json=_who({"content": content, "verify": verify}, on_behalf_of)))

    def retire(self, doc_id: str, *, successor: str | None = None, reason: str = "", on_behalf_of: str | None = None,
               if_match: int | None = None) -> dict[str, Any]:
        """Retire a document, optionally for a successor."""
        return _result(self._http.post(f"/v1/documents/{doc_id}/retire", headers=_headers(if_match),
                                       json=_who({"successor": successor, "reason": reason}, on_behalf_of)))

    def transfer(self, doc_id: str, owner: str, *, on_behalf_of: str | None = None,
                if_match: int | None = None) -> dict[str, Any]:
        """Hand a document to another owner."""
        return _result(self._http.post(f"/v1/documents/{doc_id}/transfer", headers=_headers(if_match),
                                       json=_who({"owner": owner}, on_behalf_of)))

    def receipts(self, document: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Decision receipts, optionally those that relied on a document."""
        params = {"limit": limit, **({"document": document} if document else {})}
        return _result(self._http.get("/v1/receipts", params=params))

    def check_action(self, tool: str, parameters: dict[str, Any] | None = None, *, intent: str | None = None,
                     risk: str | None = None) -> dict[str, Any]:
        """Before a tool call: proceed, needs_approval, forbidden or stop_and_ask, with the governing rule and whom to ask."""
        body = {"tool": tool, "parameters": parameters or {}, "intent": intent, "risk": risk}
        return _result(self._http.post("/v1/actions/check", json={k: v for k, v in body.items() if v is not None}))


class AsyncFreshgate:
    """Asynchronous client (same methods, awaitable)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", *, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, client: httpx.AsyncClient | None = None) -> None:
        """`api_key`: default $FRESHGATE_API_KEY, else the server's first-start key file (./.freshgate-key)."""
        self._http = client or httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                                         headers=_auth(api_key))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncFreshgate":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def lookup(self, query: str, *, risk: str = "low", ids=None, tags=None, kinds=None,
                     top_k: int | None = None) -> dict[str, Any]:
        """Proceed, caution or stop_and_ask for a question or intended action."""
        body = _lookup_body(query, risk, ids, tags, kinds, top_k)
        return _result(await self._http.post("/v1/lookup", json=body))

    async def document(self, doc_id: str) -> dict[str, Any]:
        """One document with state, owner, reasons and `revision`."""
        return _result(await self._http.get(f"/v1/documents/{doc_id}"))

    async def verify(self, doc_id: str, *, note: str = "", on_behalf_of: str | None = None,
                if_match: int | None = None) -> dict[str, Any]:
        """Renew a document."""
        return _result(await self._http.post(f"/v1/documents/{doc_id}/verify", json=_who({"note": note}, on_behalf_of),
                                             headers=_headers(if_match)))

    async def update(self, doc_id: str, content: str, *, verify: bool = False, on_behalf_of: str | None = None,
                     if_match: int | None = None) -> dict[str, Any]:
        """Replace a document's content."""
        return _result(await self._http.put(f"/v1/documents/{doc_id}/content", headers=_headers(if_match),
                                            json=_who({"content": content, "verify": verify}, on_behalf_of)))

    async def retire(self, doc_id: str, *, successor: str | None = None, reason: str = "",
                     on_behalf_of: str | None = None,
                     if_match: int | None = None) -> dict[str, Any]:
        """Retire a document."""
        return _result(await self._http.post(f"/v1/documents/{doc_id}/retire", headers=_headers(if_match),
                                             json=_who({"successor": successor, "reason": reason}, on_behalf_of)))

    async def transfer(self, doc_id: str, owner: str, *, on_behalf_of: str | None = None,
                if_match: int | None = None) -> dict[str, Any]:
        """Hand a document to another owner."""
        return _result(await self._http.post(f"/v1/documents/{doc_id}/transfer", headers=_headers(if_match),
                                             json=_who({"owner": owner}, on_behalf_of)))
