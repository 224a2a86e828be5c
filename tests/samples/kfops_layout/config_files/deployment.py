"""The original's deployment hook: a function returning the InferenceService to apply.

Plain dicts here (the original returned KServe SDK objects); `kfc init --from-kfops` renders it.
"""


def inference_service_instance(name, storage_uri, namespace="default", canary_traffic_percent=None):
    predictor = {"sklearn": {"storageUri": storage_uri}}
    if canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = canary_traffic_percent
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"predictor": predictor}}
