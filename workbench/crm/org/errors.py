"""Salesforce-shaped API errors raised by the org's operations and rendered by the server."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP status, errorCode, message and the fields concerned."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict]:
        """The REST error body: always a JSON list."""
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def item_error(self) -> dict:
        """The error object inside a collection result (uses statusCode, not errorCode)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class MultipleMatches(ApiError):
    """An external-id lookup matched several records: HTTP 300 with their URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(300, "MULTIPLE_CHOICES", "More than one record found for external id")
        self.urls = urls


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def invalid_type(name: str) -> ApiError:
    return ApiError(404, "INVALID_TYPE", f"sObject type '{name}' is not supported.")


def malformed_id(value: str, field: str = "Id") -> ApiError:
    return ApiError(400, "MALFORMED_ID", f"{field}: id value of incorrect type: {value}", [field])


def json_parser_error(message: str) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR", message)
