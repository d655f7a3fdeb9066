"""Fault replies in the dialects QuickBooks Online answers with.

- Validation and business faults: ``{"Fault": {"Error": [...], "type": ...}}``
  with HTTP 400.
- Authentication faults: the lower-case ``{"fault": {"error": [...]}}`` form, HTTP 401.
- Throttling: the same upper-case form with code 3001 and HTTP 429, or as XML.
- Outages as they have been seen: an HTML 503 page.
- A batch item's fault: the ``Fault`` member alone, inside an HTTP 200 reply.
"""

from __future__ import annotations

from typing import Any

from consumer.emulator.encoding import qbo_time
from consumer.emulator.wire import Reply, json_reply

BUSINESS_MESSAGE = (
    "A business validation error has occurred while processing your request"
)
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"


class Fault(Exception):
    """A request QuickBooks refuses; raised by the checks, answered by the API layer."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def body(self) -> dict[str, Any]:
        """The ``Fault`` member: what a reply carries, and a batch item on its own."""
        error = {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }
        return {"Error": [error], "type": self.fault_type}

    def reply(self, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        payload = {"Fault": self.body(), "time": qbo_time()}
        return json_reply(self.status, payload, headers)


def business(detail: str, element: str = "", code: str = "6000") -> Fault:
    return Fault(
        code, BUSINESS_MESSAGE, f"Business Validation Error: {detail}", element=element
    )


def invalid_value(element: str, detail: str) -> Fault:
    return Fault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{element} specified is unsupported or invalid: {detail}",
        element=element,
    )


def missing_value(element: str) -> Fault:
    return Fault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element=element,
    )


def too_long(element: str, limit: int, supplied: int) -> Fault:
    return Fault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"{element} holds at most {limit} characters; {supplied} were supplied",
        element=element,
    )


def invalid_reference(entity: str, ref_id: str, element: str) -> Fault:
    return Fault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {entity} {ref_id} assigned to this transaction "
        "does not exist",
        element=element,
    )


def inactive_object(entity: str, ref_id: str, name: str, element: str) -> Fault:
    return Fault(
        "610",
        "Object Not Found",
        f"Object Not Found : {entity} {ref_id} ({name}) has been made inactive; "
        "make it active again or choose another one",
        element=element,
    )


def object_not_found(entity: str, object_id: str) -> Fault:
    return Fault(
        "610",
        "Object Not Found",
        f"Object Not Found : there is no {entity} with Id {object_id} in this company",
    )


def period_closed(txn_date: str, closed_on: str) -> Fault:
    return Fault(
        "6210",
        "The account period has closed.",
        f"The account period has closed: the books are closed up to {closed_on} "
        f"and this transaction is dated {txn_date}",
        element="TxnDate",
    )


def query_syntax(detail: str) -> Fault:
    return Fault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> Fault:
    return Fault("4001", "Invalid query", f"QueryValidationError: {detail}")


def not_json(detail: str) -> Fault:
    return Fault(
        "2010",
        "Request has invalid or unsupported property",
        f"The request body could not be read as a JSON object: {detail}",
    )


def throttled(detail: str, retry_after: int | None = None) -> Reply:
    """HTTP 429: the company sent more requests than QuickBooks allows."""
    fault = Fault("3001", THROTTLE_MESSAGE, detail, status=429, fault_type="SERVICE")
    if retry_after is None:
        return fault.reply()
    return fault.reply(headers=(("Retry-After", str(retry_after)),))


def authentication(detail: str) -> Reply:
    """HTTP 401 in the lower-case form QuickBooks uses for authentication failures."""
    error = {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": detail,
        "code": "3200",
    }
    payload: dict[str, object] = {
        "warnings": None,
        "intuitObject": None,
        "fault": {"error": [error], "type": "AUTHENTICATION"},
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": qbo_time(),
        "status": None,
        "cdcresponse": [],
    }
    challenge = ("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"')
    return json_reply(401, payload, headers=(challenge,))


def authorization(realm_id: str) -> Reply:
    """HTTP 403: the token is valid, but no app connection exists for this company."""
    return Fault(
        "3100",
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        f"The application is not authorized to access company {realm_id}",
        status=403,
        fault_type="AUTHORIZATION",
    ).reply()


def html_page(status: int, reason: str) -> Reply:
    """An HTML error page, as a gateway in front of QuickBooks sends in an outage."""
    page = (
        "<!DOCTYPE html>\n<html><head><title>"
        f"{status} {reason}</title></head>\n<body><h1>{reason}</h1>\n"
        "<p>The server is temporarily unable to service your request. "
        "Please try again later.</p></body></html>\n"
    )
    return Reply(status, page.encode("utf-8"), "text/html; charset=utf-8")


def xml_fault(status: int, code: str, message: str, detail: str) -> Reply:
    """A fault in the XML form throttling replies have been seen in."""
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" '
        f'time="{qbo_time()}">'
        f'<Fault type="SERVICE"><Error code="{code}"><Message>{message}</Message>'
        f"<Detail>{detail}</Detail></Error></Fault></IntuitResponse>\n"
    )
    return Reply(status, body.encode("utf-8"), "application/xml")
