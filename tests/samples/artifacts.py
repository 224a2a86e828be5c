"""Artifacts of every kind a notebook-to-pipeline user reaches for, and metrics two ways.

Mirrors (by feature, written for kfops) KFP's pipeline_with_metrics_outputs and
metrics_visualization_v2 samples: Dataset, Model, Metrics (log_metric), ClassificationMetrics
(confusion matrix, ROC), HTML and Markdown outputs.
"""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, HTML, Input, Markdown, Metrics, Model, Output


@dsl.component(base_image="python:3.11-slim")
def make_data(rows: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as f:
        f.write("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(rows)))
    data.metadata["rows"] = rows


@dsl.component(base_image="python:3.11-slim")
def train(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> float:
    rows = open(data.path).read().splitlines()[1:]
    with open(model.path, "w") as f:
        f.write(f"model trained on {len(rows)} rows\n")
    model.metadata["framework"] = "none"
    metrics.log_metric("accuracy", 0.75)
    metrics.log_metric("rows", len(rows))
    return 0.75


@dsl.component(base_image="python:3.11-slim")
def evaluate(model: Input[Model], classification: Output[ClassificationMetrics],
             metrics: Output[Metrics]) -> None:
    classification.log_confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]])
    classification.log_roc_curve([0.0, 0.2, 1.0], [0.0, 0.8, 1.0], [1.0, 0.5, 0.0])
    metrics.log_metric("f1", 0.86)


@dsl.component(base_image="python:3.11-slim")
def visualize(html: Output[HTML], markdown: Output[Markdown]) -> None:
    with open(html.path, "w") as f:
        f.write("<h1>report</h1>")
    with open(markdown.path, "w") as f:
        f.write("# report\n")


@dsl.pipeline(name="sample-artifacts")
def artifacts_pipeline(rows: int = 20) -> Model:
    data = make_data(rows=rows)
    trained = train(data=data.outputs["data"])
    evaluate(model=trained.outputs["model"])
    visualize()
    return trained.outputs["model"]
