"""API errors: every failure is `{"error": {"code", "message", "fields"?}}` with its HTTP status, in Chinese."""

from flask import Response, jsonify

# The machine-readable code of each status an API response can carry.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_failed",
    429: "too_many_requests",
    500: "server_error",
    503: "service_unavailable",
}
MESSAGES = {
    400: "请求无效",
    401: "缺少有效的访问令牌",
    403: "您没有权限执行此操作",
    404: "接口或资源不存在",
    405: "该接口不支持此请求方法",
    409: "当前状态下无法执行此操作",
    413: "请求内容过大",
    422: "提交的内容未通过校验",
    429: "操作过于频繁，请稍后再试",
    500: "系统繁忙，请稍后再试",
    503: "系统暂时无法处理您的请求，请稍后再试",
}


class ApiError(Exception):
    """A refusal to answer with a JSON error; `fields` maps field names to messages (validation errors)."""

    def __init__(self, status: int, message: str | None = None, *, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        self.status = status
        self.message = message or MESSAGES.get(status, f"请求无法处理（{status}）")
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)


def error_response(status: int, message: str | None = None, *, fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """Return the JSON error response for `status`."""
    body: dict[str, object] = {
        "code": CODES.get(status, "error"),
        "message": message or MESSAGES.get(status, f"请求无法处理（{status}）"),
    }
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    response.headers.update(headers or {})
    return response
