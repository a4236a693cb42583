"""Lambda events shaped like API Gateway's (REST API, proxy integration, REQUEST authorizer)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from shared.access import Caller

API_ID = "testapi"
STAGE = "v1"
ACCOUNT = "123456789012"


@dataclass
class FakeContext:
    """The parts of a LambdaContext that Powertools reads."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _resource_of(path: str) -> tuple[str, dict[str, str] | None]:
    """The API Gateway resource template and path parameters for a concrete path of this API."""
    patterns = [
        (r"^/api/v1/jobs/lookup$", "/api/v1/jobs/lookup"),
        (r"^/api/v1/requeue-batches/(?P<batch_id>[^/]+)/cancel$", "/api/v1/requeue-batches/{batch_id}/cancel"),
        (r"^/api/v1/requeue-batches/(?P<batch_id>[^/]+)$", "/api/v1/requeue-batches/{batch_id}"),
        (r"^/api/v1/jobs/(?P<job_id>[^/]+)/status$", "/api/v1/jobs/{job_id}/status"),
        (r"^/api/v1/jobs/(?P<job_id>[^/]+)$", "/api/v1/jobs/{job_id}"),
        *(
            (
                rf"^/api/v1/config/(?P<level>[^/]+)/(?P<tenant_id>[^/]+)/{view}$",
                f"/api/v1/config/{{level}}/{{tenant_id}}/{view}",
            )
            for view in ("history", "effective", "preview")
        ),
        (r"^/api/v1/config/(?P<level>[^/]+)/(?P<tenant_id>[^/]+)$", "/api/v1/config/{level}/{tenant_id}"),
    ]
    for pattern, resource in patterns:
        match = re.match(pattern, path)
        if match:
            return resource, match.groupdict()
    return path, None


def api_event(
    method: str,
    path: str,
    caller: Caller | None,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it after the authorizer allowed the request."""
    resource, path_parameters = _resource_of(path)
    headers = {"Content-Type": "application/json", "Host": "localhost"}
    authorizer = None
    if caller is not None:
        authorizer = {**caller.model_dump(mode="json"), "principalId": caller.key_id, "integrationLatency": 3}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {key: [value] for key, value in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": json.dumps(body) if body is not None and not isinstance(body, str) else body,
        "isBase64Encoded": False,
    }


def authorizer_event(authorization: str | None, method: str = "GET", path: str = "/api/v1/jobs") -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {},
        "requestContext": {"stage": STAGE, "apiId": API_ID, "accountId": ACCOUNT},
    }


def stream_record(
    new_image: dict[str, Any],
    old_image: dict[str, Any] | None = None,
    sequence: int = 1,
    table_stream_arn: str = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/gensail-test/stream/2026-11-28T00:00:00.000",
) -> dict[str, Any]:
    """One DynamoDB stream record as Lambda receives it (images in DynamoDB's wire format)."""
    dynamodb: dict[str, Any] = {
        "Keys": {"pk": new_image["pk"], "sk": new_image["sk"]},
        "NewImage": new_image,
        "SequenceNumber": f"{sequence:021d}",
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old_image is not None:
        dynamodb["OldImage"] = old_image
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "MODIFY" if old_image is not None else "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": table_stream_arn,
    }
