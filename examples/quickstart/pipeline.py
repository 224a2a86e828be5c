"""Quickstart pipeline: a small, real classifier trained on Kubeflow Pipelines.

Three lightweight Python components, standard library only, so the same file runs

* on a real Kubeflow (each step is a pod from ``python:3.11-slim``), and
* on this machine with KFP's local runner (``kfc build-run --local``), offline and in seconds,
  without installing anything into your environment (no ``packages_to_install``).

The steps:

1. ``make_dataset``: a seeded, reproducible binary classification data set (two noisy Gaussian
   clusters of machine-sensor readings: healthy vs. about to fail), split into train/test CSVs.
2. ``train``: logistic regression by batch gradient descent on standardized features; the model is
   a JSON file (weights, bias, feature names, standardization, metadata).
3. ``evaluate``: accuracy, precision, recall, F1 and log loss on the held-out set, logged as KFP
   metrics (shown in the Kubeflow UI) and returned as the step's output.

Component bodies import inside the function on purpose: KFP ships each function's source alone to
its container, so module-level imports and helpers would not be there.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

#: Every step runs in this image; nothing is installed on top of it but the KFP runtime.
BASE_IMAGE = "python:3.11-slim"


@dsl.component(base_image=BASE_IMAGE)
def make_dataset(
    n_samples: int,
    seed: int,
    test_fraction: float,
    train_data: Output[Dataset],
    test_data: Output[Dataset],
) -> None:
    """Generate a reproducible two-class sensor data set and split it into train and test CSVs.

    Class 1 ("will fail within a week") has hotter, more vibrating, lower-pressure machines than
    class 0; the clusters overlap a little so the metrics are not trivially perfect. The same
    ``seed`` gives byte-identical files, which is what makes runs comparable across pull requests.
    """
    import csv
    import random

    if n_samples < 4:
        raise ValueError(f"n_samples must be at least 4, got {n_samples}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")

    feature_names = ["temperature_c", "vibration_mm_s", "pressure_bar", "rpm_thousands"]
    # (mean, standard deviation) of each feature, per class.
    profiles = {
        0: [(61.0, 4.0), (2.2, 0.7), (6.1, 0.35), (1.45, 0.12)],
        1: [(69.0, 4.5), (3.9, 0.8), (5.5, 0.40), (1.55, 0.12)],
    }
    rng = random.Random(seed)
    rows = []
    for index in range(n_samples):
        label = index % 2  # balanced classes
        features = [round(rng.gauss(mu, sigma), 4) for mu, sigma in profiles[label]]
        rows.append(features + [label])
    rng.shuffle(rows)

    n_test = max(1, min(n_samples - 1, round(n_samples * test_fraction)))
    splits = {test_data: rows[:n_test], train_data: rows[n_test:]}
    for artifact, split_rows in splits.items():
        with open(artifact.path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(feature_names + ["label"])
            writer.writerows(split_rows)
        artifact.metadata["rows"] = len(split_rows)
        artifact.metadata["features"] = feature_names
        artifact.metadata["format"] = "csv"
        artifact.metadata["seed"] = seed


@dsl.component(base_image=BASE_IMAGE)
def train(
    train_data: Input[Dataset],
    learning_rate: float,
    epochs: int,
    model: Output[Model],
) -> None:
    """Fit a logistic regression by full-batch gradient descent, in plain Python.

    Features are standardized with the training set's mean and standard deviation; those are saved
    in the model so the serving side applies exactly the same transformation.
    """
    import csv
    import json
    import math

    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")

    with open(train_data.path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [[float(value) for value in row] for row in reader]
    feature_names = header[:-1]
    xs = [record[:-1] for record in records]
    ys = [record[-1] for record in records]
    n_rows, n_features = len(xs), len(feature_names)

    means = [sum(row[j] for row in xs) / n_rows for j in range(n_features)]
    stds = []
    for j in range(n_features):
        variance = sum((row[j] - means[j]) ** 2 for row in xs) / n_rows
        stds.append(math.sqrt(variance) or 1.0)
    scaled = [[(row[j] - means[j]) / stds[j] for j in range(n_features)] for row in xs]

    def sigmoid(z: float) -> float:
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    weights = [0.0] * n_features
    bias = 0.0
    loss = float("nan")
    for _ in range(epochs):
        grad_w = [0.0] * n_features
        grad_b = 0.0
        loss = 0.0
        for row, y in zip(scaled, ys):
            p = sigmoid(sum(w * x for w, x in zip(weights, row)) + bias)
            error = p - y
            for j in range(n_features):
                grad_w[j] += error * row[j]
            grad_b += error
            p = min(max(p, 1e-12), 1 - 1e-12)
            loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        weights = [w - learning_rate * g / n_rows for w, g in zip(weights, grad_w)]
        bias -= learning_rate * grad_b / n_rows
    train_loss = loss / n_rows  # loss of the last epoch, before its update

    document = {
        "framework": "kfops-quickstart-logreg",
        "format_version": 1,
        "feature_names": feature_names,
        "weights": weights,
        "bias": bias,
        "standardization": {"mean": means, "std": stds},
        "threshold": 0.5,
        "training": {
            "rows": n_rows,
            "learning_rate": learning_rate,
            "epochs": epochs,
            "final_train_log_loss": train_loss,
        },
    }
    with open(model.path, "w") as handle:
        json.dump(document, handle, indent=2)
    model.metadata["framework"] = document["framework"]
    model.metadata["features"] = feature_names
    model.metadata["learning_rate"] = learning_rate
    model.metadata["epochs"] = epochs
    model.metadata["final_train_log_loss"] = train_loss


@dsl.component(base_image=BASE_IMAGE)
def evaluate(
    model: Input[Model],
    test_data: Input[Dataset],
    metrics: Output[Metrics],
) -> float:
    """Score the model on the held-out set; log the metrics to KFP and return the accuracy.

    Returning the accuracy as a plain output lets a later step (or a pull-request comment) gate on
    it without reading the metrics artifact.
    """
    import csv
    import json
    import math

    with open(model.path) as handle:
        document = json.load(handle)
    with open(test_data.path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [[float(value) for value in row] for row in reader]
    if header[:-1] != document["feature_names"]:
        raise ValueError(
            f"test set features {header[:-1]} differ from the model's {document['feature_names']}"
        )

    means = document["standardization"]["mean"]
    stds = document["standardization"]["std"]
    weights, bias = document["weights"], document["bias"]
    threshold = document.get("threshold", 0.5)

    true_pos = false_pos = true_neg = false_neg = 0
    log_loss = 0.0
    for record in records:
        features, label = record[:-1], int(record[-1])
        z = bias + sum(w * (x - m) / s for w, x, m, s in zip(weights, features, means, stds))
        probability = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        clipped = min(max(probability, 1e-12), 1 - 1e-12)
        log_loss -= label * math.log(clipped) + (1 - label) * math.log(1 - clipped)
        predicted = 1 if probability >= threshold else 0
        if predicted and label:
            true_pos += 1
        elif predicted:
            false_pos += 1
        elif label:
            false_neg += 1
        else:
            true_neg += 1

    n = len(records)
    accuracy = (true_pos + true_neg) / n
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    metrics.log_metric("accuracy", round(accuracy, 6))
    metrics.log_metric("precision", round(precision, 6))
    metrics.log_metric("recall", round(recall, 6))
    metrics.log_metric("f1", round(f1, 6))
    metrics.log_metric("log_loss", round(log_loss / n, 6))
    metrics.log_metric("test_rows", n)
    return accuracy


@dsl.pipeline(
    name="quickstart-classifier",
    description="Train and evaluate a logistic-regression failure classifier on synthetic sensor data.",
)
def training_pipeline(
    n_samples: int = 600,
    seed: int = 7,
    learning_rate: float = 0.1,
    epochs: int = 200,
    test_fraction: float = 0.25,
) -> Model:
    """Generate data, train, evaluate; the trained model is the pipeline's output.

    Args:
        n_samples: Rows generated in total (train + test).
        seed: Seed of the data generator; same seed, same data, same metrics.
        learning_rate: Gradient-descent step size.
        epochs: Full passes over the training set.
        test_fraction: Share of the rows held out for evaluation.
    """
    dataset_task = make_dataset(n_samples=n_samples, seed=seed, test_fraction=test_fraction)
    train_task = train(
        train_data=dataset_task.outputs["train_data"],
        learning_rate=learning_rate,
        epochs=epochs,
    )
    evaluate(model=train_task.outputs["model"], test_data=dataset_task.outputs["test_data"])
    return train_task.outputs["model"]
