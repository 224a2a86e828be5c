"""An original Kfops pipeline, already ported to kfp 2: components run in the image Kfops built
(`version_id` was how Kfops told the pipeline which image tag to use), a model and its metrics."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

IMAGE = "registry.example.test/acme/my_image_name:latest"


@dsl.component(base_image=IMAGE)
def load_data(n_rows: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as f:
        f.write("".join(f"{i % 3},{i * 0.1:.1f}\n" for i in range(n_rows)))


@dsl.component(base_image=IMAGE)
def train(data: Input[Dataset], version_id: str, model: Output[Model], metrics: Output[Metrics]) -> None:
    import json

    rows = [line.split(",") for line in open(data.path).read().splitlines()]
    classes = sorted({r[0] for r in rows})
    with open(model.path, "w") as f:
        json.dump({"classes": classes, "version": version_id or "unversioned"}, f)
    metrics.log_metric("accuracy", round(1 / len(classes), 4))
    metrics.log_metric("rows", len(rows))


@dsl.pipeline(name="sklearn-iris")
def iris_pipeline(n_rows: int = 9, version_id: str = ""):
    data = load_data(n_rows=n_rows)
    train(data=data.outputs["data"], version_id=version_id)
