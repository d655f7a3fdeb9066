"""Classify QuickBooks replies by HTTP status and fault code, never by exception class.

python-quickbooks raises one exception type for very different situations (an XML
throttle reply and an HTML 503 both arrive as code 10000), so the decision is taken
from the response itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    RETRY_NOW = "retry_now"  # network trouble, timeouts, 5xx, internal errors
    REFRESH_TOKEN = "refresh_token"  # 401: refresh once, then retry
    THROTTLED = "throttled"  # 429: this company waits, the others go on
    RETRY_LATER = "retry_later"  # stale object and the like
    NEEDS_PERSON = "needs_person"  # missing or inactive references, closed books
    BAD_REQUEST = "bad_request"  # QuickBooks refused it; its message goes to a person


@dataclass(frozen=True)
class Fault:
    action: Action
    http_status: int | None
    code: str
    message: str
    detail: str = ""

    @property
    def text(self) -> str:
        if self.detail and self.detail != self.message:
            return f"{self.message}: {self.detail}"
        return self.message


_NEEDS_PERSON_CODES = {"3100", "610", "2500", "6190", "6210"}
_BAD_REQUEST_CODES = {"2010", "2020", "2050", "6000", "6140", "4000"}


def classify(http_status: int | None, body: str) -> Fault:
    """Decide what to do with a reply that was not a success."""
    code, message, detail = _first_error(body)

    if http_status is None:
        return Fault(
            Action.RETRY_NOW, None, "NETWORK", message or "no reply from QuickBooks"
        )
    if http_status == 401 or code in ("3200", "120"):
        return Fault(Action.REFRESH_TOKEN, http_status, code or "401", message, detail)
    if http_status == 429 or code == "3001":
        return Fault(
            Action.THROTTLED,
            http_status,
            code or "3001",
            message or "throttled",
            detail,
        )
    if http_status == 403 or code == "3100":
        return Fault(Action.NEEDS_PERSON, http_status, code or "3100", message, detail)
    if http_status >= 500 or code == "10000":
        return Fault(
            Action.RETRY_NOW, http_status, code or str(http_status), message, detail
        )
    if code == "5010":
        return Fault(Action.RETRY_LATER, http_status, code, message, detail)
    if code in _NEEDS_PERSON_CODES:
        return Fault(Action.NEEDS_PERSON, http_status, code, message, detail)
    if code in _BAD_REQUEST_CODES or http_status >= 400:
        return Fault(
            Action.BAD_REQUEST, http_status, code or str(http_status), message, detail
        )
    # A fault inside an HTTP 200 reply: QuickBooks refused the request all the same.
    return Fault(Action.BAD_REQUEST, http_status, code or "UNKNOWN", message, detail)


def _first_error(body: str) -> tuple[str, str, str]:
    """Code, message and detail of the first error in a fault, whatever its dialect."""
    try:
        data = json.loads(body)
    except ValueError:
        return _non_json(body)
    if not isinstance(data, dict):
        return "", _trim(body), ""

    fault = data.get("Fault") or data.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or []
    if not errors:
        if "error" in data and isinstance(data["error"], str):
            return data["error"], data.get("error_description", data["error"]), ""
        return "", _trim(body), ""
    first = errors[0]
    code = str(first.get("code", ""))
    message = first.get("Message") or first.get("message") or ""
    detail = first.get("Detail") or first.get("detail") or ""
    return code, message, detail


def _non_json(body: str) -> tuple[str, str, str]:
    # Throttling has been seen as XML; outages as HTML pages.
    code = re.search(r'code="?(\d+)"?', body)
    message = re.search(r"<Message>(.*?)</Message>", body, re.S)
    return (
        code.group(1) if code else "",
        message.group(1).strip() if message else _trim(re.sub(r"<[^>]+>", " ", body)),
        "",
    )


def _trim(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
