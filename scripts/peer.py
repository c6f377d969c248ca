#!/usr/bin/env python3
"""The peer that `mnist-writeup bench --peers` measures itself against.

The assignment's networks trained the plain way a course would write them:
PyTorch eager (or Keras, where TensorFlow is importable), the same data (the
IDX files `bench` writes), batch 128, the same optimisers and threads. Prints
one JSON object per workload on standard output:

    {"engine", "workload", "train_seconds_per_epoch", "validation_seconds"}

or, where the engine cannot run here, {"engine", "workload": "all", "skipped"}.
Needs only the torch of the venv that scripts/setup.sh installs (no numpy).
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

BATCH = 128
WARM_UP_BATCHES = 20


def read_idx(directory, name):
    """An IDX file of unsigned bytes (raw or .gz): (shape, bytes)."""
    for path, opener in ((os.path.join(directory, name), open), (os.path.join(directory, name + ".gz"), gzip.open)):
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            ndims = data[3]
            shape = struct.unpack(">" + "I" * ndims, data[4 : 4 + 4 * ndims])
            return shape, data[4 + 4 * ndims :]
    sys.exit(f"peer: {name} not found in {directory}")


def report(engine, workload, train_seconds_per_epoch, validation_seconds):
    print(json.dumps({
        "engine": engine,
        "workload": workload,
        "train_seconds_per_epoch": train_seconds_per_epoch,
        "validation_seconds": validation_seconds,
    }), flush=True)


def skipped(engine, why):
    print(json.dumps({"engine": engine, "workload": "all", "skipped": why}), flush=True)


def pytorch(args):
    import torch
    from torch import nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    device = torch.device(args.device)

    def load(prefix):
        shape, images = read_idx(args.data, f"{prefix}-images-idx3-ubyte")
        _, labels = read_idx(args.data, f"{prefix}-labels-idx1-ubyte")
        x = torch.frombuffer(bytearray(images), dtype=torch.uint8).reshape(shape[0], 784).float().div(255).to(device)
        y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long().to(device)
        return x, y

    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    bf16 = args.precision == "bfloat16"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def epoch(model, opt, x, y, batches=None):
        model.train()
        order = torch.randperm(len(y), device=device)
        starts = range(0, len(y), BATCH)
        if batches is not None:
            starts = list(starts)[:batches]
        for start in starts:
            idx = order[start : start + BATCH]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=model.bf16):
                loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def validate(model):
        model.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=model.bf16):
            for chunk in range(0, len(test_y), 2000):
                model(test_x[chunk : chunk + 2000]).float().argmax(-1).eq(test_y[chunk : chunk + 2000]).sum().item()

    def measure(workload, model, opt):
        epoch(model, opt, train_x, train_y, batches=WARM_UP_BATCHES)
        sync()
        start = time.perf_counter()
        for _ in range(args.epochs):
            epoch(model, opt, train_x, train_y)
        sync()
        train = (time.perf_counter() - start) / args.epochs
        start = time.perf_counter()
        validate(model)
        sync()
        report("pytorch", workload, train, time.perf_counter() - start)

    class Mlp(nn.Sequential):
        def __init__(self, hidden, bf16):
            widths = [784, *hidden]
            layers = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            super().__init__(*layers, nn.Linear(widths[-1], 10))
            self.bf16 = bf16

    class ReferenceCnn(nn.Module):
        """Keras's MNIST example network, as question 3 trains it."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.hidden = nn.Linear(1600, 128)
            self.out = nn.Linear(128, 10)
            self.bf16 = bf16

        def forward(self, x):
            x = x.view(-1, 1, 28, 28).contiguous(memory_format=torch.channels_last)
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.hidden(x.flatten(1)))
            return self.out(F.dropout(x, 0.5, self.training))

    # As the experiments train them: the 64-64 network in float32, the
    # 500-300 one in the run's precision.
    for workload, hidden, mixed in (("mlp_64_64", [64, 64], False), ("mlp_500_300", [500, 300], bf16)):
        model = Mlp(hidden, mixed).to(device)
        measure(workload, model, torch.optim.SGD(model.parameters(), lr=0.1))
    cnn = ReferenceCnn().to(device).to(memory_format=torch.channels_last)
    measure("reference_cnn", cnn, torch.optim.Adam(cnn.parameters(), lr=1e-3))


def keras(args):
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
    except ImportError as e:
        skipped("keras", f"TensorFlow is not importable by {sys.executable} ({e.name or e})")
        return
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras = tf.keras
    if args.precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    def load(prefix):
        shape, images = read_idx(args.data, f"{prefix}-images-idx3-ubyte")
        _, labels = read_idx(args.data, f"{prefix}-labels-idx1-ubyte")
        x = tf.cast(tf.reshape(tf.io.decode_raw(images, tf.uint8), (shape[0], 784)), tf.float32) / 255.0
        y = tf.cast(tf.io.decode_raw(labels, tf.uint8), tf.int64)
        return x, y

    (train_x, train_y), (test_x, test_y) = load("train"), load("t10k")
    layers = keras.layers

    def measure(workload, model, optimiser):
        model.compile(optimizer=optimiser, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(train_x[: WARM_UP_BATCHES * BATCH], train_y[: WARM_UP_BATCHES * BATCH], batch_size=BATCH, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(train_x, train_y, batch_size=BATCH, epochs=args.epochs, verbose=0)
        train = (time.perf_counter() - start) / args.epochs
        start = time.perf_counter()
        model.evaluate(test_x, test_y, batch_size=2000, verbose=0)
        report("keras", workload, train, time.perf_counter() - start)

    # The 64-64 network in float32 whatever the global policy, as the experiments train it.
    for workload, hidden, policy in (("mlp_64_64", [64, 64], "float32"), ("mlp_500_300", [500, 300], None)):
        model = keras.Sequential([keras.Input((784,))] + [layers.Dense(h, activation="relu", dtype=policy) for h in hidden] + [layers.Dense(10, activation="softmax", dtype="float32")])
        measure(workload, model, keras.optimizers.SGD(0.1))
    cnn = keras.Sequential([
        keras.Input((784,)),
        layers.Reshape((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax", dtype="float32"),
    ])
    measure("reference_cnn", cnn, keras.optimizers.Adam(1e-3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["pytorch", "keras"], default="pytorch")
    parser.add_argument("--data", required=True, help="directory with the four MNIST IDX files")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32", help="what the conv net and the 500-300 MLP compute in")
    args = parser.parse_args()
    {"pytorch": pytorch, "keras": keras}[args.engine](args)


if __name__ == "__main__":
    main()
