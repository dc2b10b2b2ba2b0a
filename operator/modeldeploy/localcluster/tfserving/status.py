"""absl::Status as TF Serving prints and serialises it: a canonical code name and a message."""

from __future__ import annotations

from dataclasses import dataclass

# absl/status/status.h: the canonical codes, numbered as tensorflow/core/protobuf/error_codes.proto.
CODE_NUMBERS = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}

# tensorflow_serving/model_servers/http_server.cc ToHTTPStatusCode: the REST reply code of each status.
HTTP_CODES = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


@dataclass(frozen=True)
class Status:
    code: str = "OK"
    message: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODE_NUMBERS:
            raise ValueError(f"unknown status code {self.code!r}; known: {', '.join(CODE_NUMBERS)}")

    @property
    def ok(self) -> bool:
        return self.code == "OK"

    def __str__(self) -> str:
        # absl::Status::ToString(): "OK", or "CODE: message".
        return "OK" if self.ok else f"{self.code}: {self.message}"


OK = Status()


class StatusError(Exception):
    """A non-OK Status travelling up the call chain, as TF_RETURN_IF_ERROR does."""

    def __init__(self, status: Status) -> None:
        super().__init__(str(status))
        self.status = status


def fail(code: str, message: str) -> StatusError:
    return StatusError(Status(code, message))
