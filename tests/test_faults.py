"""Classifying QuickBooks' replies by HTTP status and fault code, in every dialect."""

from __future__ import annotations

import json

import pytest

from consumer.faults import Action, classify
from consumer.quickbooks_client import escape_query_value


def fault(code: str, status_message: str = "Bad") -> str:
    return json.dumps(
        {
            "Fault": {
                "Error": [
                    {
                        "Message": status_message,
                        "Detail": f"detail {code}",
                        "code": code,
                    }
                ],
                "type": "ValidationFault",
            },
            "time": "2026-12-04T10:00:00Z",
        }
    )


LOWER_CASE_AUTH = json.dumps(
    {
        "warnings": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; "
                    "statusCode=401",
                    "detail": "Token expired",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
    }
)
XML_THROTTLE = (
    '<?xml version="1.0"?><IntuitResponse>'
    '<Fault type="ValidationFault"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "</Error></Fault></IntuitResponse>"
)
HTML_503 = (
    "<html><head><title>503 Service Unavailable</title></head>"
    "<body>down for maintenance</body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "action", "code"),
    [
        (401, LOWER_CASE_AUTH, Action.REFRESH_TOKEN, "3200"),
        (401, fault("120"), Action.REFRESH_TOKEN, "120"),
        (403, fault("3100"), Action.NEEDS_PERSON, "3100"),
        (429, XML_THROTTLE, Action.THROTTLED, "3001"),
        (429, "", Action.THROTTLED, "3001"),
        (503, HTML_503, Action.RETRY_NOW, "503"),
        (500, fault("10000"), Action.RETRY_NOW, "10000"),
        (502, "", Action.RETRY_NOW, "502"),
        (None, "", Action.RETRY_NOW, "NETWORK"),
        (400, fault("5010"), Action.RETRY_LATER, "5010"),
        (400, fault("610"), Action.NEEDS_PERSON, "610"),
        (400, fault("2500"), Action.NEEDS_PERSON, "2500"),
        (400, fault("6190"), Action.NEEDS_PERSON, "6190"),
        (400, fault("6210"), Action.NEEDS_PERSON, "6210"),
        (400, fault("2010"), Action.BAD_REQUEST, "2010"),
        (400, fault("2020"), Action.BAD_REQUEST, "2020"),
        (400, fault("2050"), Action.BAD_REQUEST, "2050"),
        (400, fault("6000"), Action.BAD_REQUEST, "6000"),
        (400, fault("6140"), Action.BAD_REQUEST, "6140"),
        (200, fault("6000"), Action.BAD_REQUEST, "6000"),  # a fault inside a success
        (200, fault("10000"), Action.RETRY_NOW, "10000"),
    ],
)
def test_replies_are_classified_by_status_and_code(status, body, action, code):
    result = classify(status, body)
    assert (result.action, result.code) == (action, code)


def test_the_message_a_person_reads_comes_from_the_fault():
    assert (
        classify(400, fault("6000", "Business Validation Error")).text
        == "Business Validation Error: detail 6000"
    )
    assert "Service Unavailable" in classify(503, HTML_503).text
    assert "ThrottleExceeded" in classify(429, XML_THROTTLE).text


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("PSB-1", "PSB-1"),
        ("O'Brien", "O\\'Brien"),
        ("a\\b", "a\\\\b"),
        ("\\'", "\\\\\\'"),
    ],
)
def test_query_values_escape_backslashes_then_quotes(value, escaped):
    assert escape_query_value(value) == escaped
