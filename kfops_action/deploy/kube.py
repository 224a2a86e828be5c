"""The one place deploy code calls the Kubernetes client: plain dicts in and out, errors translated.

InferenceServices and Leases are handled as plain dicts (CustomObjectsApi, and `_preload_content=
False` for Leases), so no KServe SDK is needed and the objects we compare are exactly what the API
server returned. `kubernetes` is imported only when a call is made: `import kfops_action.deploy`
stays cheap for `kfc --help` and the Action's first acknowledgement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import api_error, unreachable

DEFAULT_REQUEST_TIMEOUT = 30.0


class Kube:
    """Wraps a `kubernetes.client.ApiClient` (or anything with the same API classes)."""

    def __init__(self, api_client: Any, *, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.api_client = api_client
        self.request_timeout = request_timeout

    @property
    def host(self) -> str | None:
        configuration = getattr(self.api_client, "configuration", None)
        return getattr(configuration, "host", None)

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def coordination(self) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(self.api_client)

    def call(self, verb: str, group: str, plural: str, namespace: str, name: str | None,
             fn: Callable[..., Any], *args: Any, raw: bool = False, **kwargs: Any) -> Any:
        """Run one API call; ApiException and connection failures become KubeApiError.

        `raw=True` asks for the undecoded response and parses its JSON, so typed APIs (Leases)
        also give plain dicts with the server's own field names.
        """
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.request_timeout)
        if raw:
            kwargs["_preload_content"] = False
        try:
            response = fn(*args, **kwargs)
        except ApiException as exc:
            raise api_error(exc, verb=verb, group=group, plural=plural, namespace=namespace,
                            name=name) from None
        except (HTTPError, OSError) as exc:
            raise unreachable(exc, verb=verb, plural=plural, namespace=namespace,
                              host=self.host) from None
        if raw:
            data = response.data
            return json.loads(data) if data else {}
        return response
