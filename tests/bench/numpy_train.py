#!/usr/bin/python3
"""NumPy baseline: the starter's LogisticModel / MoeModel, trained and evaluated.

Benchmark baseline for the yt8m-flow trainer.  An independent NumPy
reimplementation of google/youtube-8m's video-level training (train.py,
video_level_models.py, losses.py) and evaluation (eval_util.py,
average_precision_calculator.py, mean_average_precision_calculator.py), with
the math of docs REFERENCE.md sections 1.2-1.4, 1.8, 2.0-2.2, 3.1-3.3, 4.1-4.4.
Only Debian's /usr/bin/python3, python3-numpy and the standard library: no
TensorFlow, no protobuf package (a small TFRecord reader and tf.train.Example
decoder are below).

Usage:
    /usr/bin/python3 tests/bench/numpy_train.py \
        --train '/work/shared/data/validate000[0-4].tfrecord' \
        --eval  '/work/shared/data/validate000[5-6].tfrecord' \
        --model LogisticModel|MoeModel --num_epochs 10 [--json OUT.json]
    /usr/bin/python3 tests/bench/numpy_train.py --selftest

--train / --eval take glob patterns, several separated by commas; the files
are read in sorted order.  Other flags (defaults = the starter's):
    --batch_size 1024 --num_epochs 5 --base_learning_rate 0.01
    --learning_rate_decay 0.95 --learning_rate_decay_examples 4000000
    --moe_num_mixtures 2 --moe_l2 1e-8 --l2_penalty 1e-8
    --feature_names mean_rgb,mean_audio --feature_sizes 1024,128
    --num_classes 3862 --top_k 20 --eval_batch_size 1024 --seed 1
    --eval_at 1,3   also evaluate after these epochs (not timed as training)
    --no_data_crc   skip the pure-Python CRC32C of record payloads (the
                    8-byte length CRC and the framing are always checked)
    --blas_threads N  openblas_set_num_threads(N) if OpenBLAS is found

--json OUT writes {"model", "train_examples", "eval_examples", "train_seconds",
"examples_per_sec", "hit1", "perr", "gap", "map", "loss", "num_classes",
"epochs"} plus "load_seconds", "epoch_seconds_min", "epoch_seconds_median"
and, with --eval_at, "history" (one metrics object per evaluated epoch, with
the training seconds spent up to it).

What is timed: "train_seconds" is the wall time (time.perf_counter) of the
training loop only: for every step the batch gather, input L2 normalization,
forward, loss, backward, L2 gradient, per-variable clipping and Adam update.
Loading/decoding the shards (reported as load time) and evaluation are not
included.

Training math (float32 throughout; np.float32 matmuls go to the system BLAS):
  * input x <- x * rsqrt(max(sum(x^2), 1e-12)) over the concatenated features
  * Logistic: p = sigmoid(x W + b); W Glorot-uniform [D, C], b = 0
  * MoE (M = --moe_num_mixtures): gates = x Wg (no bias) [B, C(M+1)], rows of
    M+1 (flat column c(M+1)+m) softmaxed, slot M = dummy expert predicting 0;
    experts = sigmoid(x We + be) [B, CM], rows of M; p_c = sum_{m<M} g*s
  * loss = mean_batch sum_class -[y log(p+1e-5) + (1-y) log(1-p+1e-5)]
  * + s * sum(w^2)/2 for the weight matrices only (W; Wg and We with --moe_l2)
  * per-variable g <- g * 1.0 / max(||g||_2, 1.0)
  * TF Adam (b1 0.9, b2 0.999, eps 1e-8, t from 1, float32 beta powers):
    alpha = lr sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    w -= alpha m / (sqrt(v)+eps)
  * lr = base * decay ^ floor(step * batch_size / decay_examples), step from 0
  * every epoch the examples are permuted with numpy.random.default_rng(seed)
    (the same generator that drew the initial weights: Logistic W; MoE Wg
    then We). --batching stream (the default) cuts the epochs' permutations,
    one after the other, into batches as train.py's input queue does
    (shuffle_batch_join over num_epochs: a batch may span two epochs, only
    the run's last batch is smaller), so a run takes the same number of
    steps as yt8m-flow's train node; --batching epoch keeps each epoch's
    last, smaller batch instead (one more step per epoch).

Evaluation (batches of --eval_batch_size in file order), as eval_util.py:
  Hit@1 (argmax, first index on ties), PERR (argpartition, k = 0 quirk),
  GAP (each video's top 20 pooled, all positives in the denominator, heap +
  random.seed(0) random.sample permutation + stable descending sort, exactly
  as average_precision_calculator.py), mAP over classes with >= 1 positive,
  avg loss (example-weighted batch means), num_classes = classes kept in mAP.
"""

import argparse
import ctypes
import glob
import heapq
import io
import json
import math
import os
import random
import struct
import sys
import time

import numpy as np

F32 = np.float32

# ---------------------------------------------------------------------------
# CRC-32C (Castagnoli), pure Python, and TFRecord framing
# ---------------------------------------------------------------------------


def _make_crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


class RecordError(Exception):
    pass


def read_tfrecords(f, name, verify_data_crc=True):
    """Yields the payloads of an uncompressed TFRecord stream f."""
    index = 0
    while True:
        hdr = f.read(12)
        if not hdr:
            return
        if len(hdr) != 12:
            raise RecordError("%s: record %d: truncated header" % (name, index))
        length, length_crc = struct.unpack("<QI", hdr)
        if masked_crc32c(hdr[:8]) != length_crc:
            raise RecordError("%s: record %d: length CRC mismatch" % (name, index))
        data = f.read(length)
        tail = f.read(4)
        if len(data) != length or len(tail) != 4:
            raise RecordError("%s: record %d: truncated data (length %d)"
                              % (name, index, length))
        if verify_data_crc and masked_crc32c(data) != struct.unpack("<I", tail)[0]:
            raise RecordError("%s: record %d: data CRC mismatch" % (name, index))
        yield data
        index += 1


def frame_record(data):
    """The TFRecord framing of one payload (used by --selftest)."""
    hdr = struct.pack("<Q", len(data))
    return (hdr + struct.pack("<I", masked_crc32c(hdr)) + data
            + struct.pack("<I", masked_crc32c(data)))


# ---------------------------------------------------------------------------
# Minimal protobuf decoding of tf.train.Example
# ---------------------------------------------------------------------------


class DecodeError(Exception):
    pass


def _varint(buf, pos, end):
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def _skip(buf, pos, end, wire, field):
    if wire == 0:
        _, pos = _varint(buf, pos, end)
    elif wire == 1:
        pos += 8
    elif wire == 2:
        n, pos = _varint(buf, pos, end)
        pos += n
    elif wire == 5:
        pos += 4
    elif wire == 3:  # group: skip up to the matching end-group
        while True:
            key, pos = _varint(buf, pos, end)
            if key & 7 == 4:
                if key >> 3 != field:
                    raise DecodeError("mismatched end group")
                break
            pos = _skip(buf, pos, end, key & 7, key >> 3)
    else:
        raise DecodeError("bad wire type %d" % wire)
    if pos > end:
        raise DecodeError("truncated field")
    return pos


def _fields(buf, pos, end):
    """Yields (field, wire, value_start, value_end_or_varint, next_pos)."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise DecodeError("field number 0")
        if wire == 2:
            n, p = _varint(buf, pos, end)
            if p + n > end:
                raise DecodeError("truncated length-delimited field")
            yield field, wire, p, p + n
            pos = p + n
        elif wire == 0:
            v, pos = _varint(buf, pos, end)
            yield field, wire, v, pos
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError("truncated fixed32")
            yield field, wire, pos, pos + 4
            pos += 4
        else:
            pos = _skip(buf, pos, end, wire, field)


def _decode_list(buf, start, end, kind):
    """BytesList / FloatList / Int64List: value = field 1, packed or not."""
    if kind == "bytes":
        out = []
        for field, wire, a, b in _fields(buf, start, end):
            if field == 1 and wire == 2:
                out.append(bytes(buf[a:b]))
        return out
    if kind == "float":
        chunks = []
        for field, wire, a, b in _fields(buf, start, end):
            if field != 1:
                continue
            if wire == 2:  # packed
                if (b - a) % 4:
                    raise DecodeError("packed float length not a multiple of 4")
                chunks.append(np.frombuffer(buf, dtype="<f4", count=(b - a) // 4,
                                            offset=a))
            elif wire == 5:
                chunks.append(np.frombuffer(buf, dtype="<f4", count=1, offset=a))
        if not chunks:
            return np.zeros(0, F32)
        return np.concatenate(chunks).astype(F32)
    out = []  # int64
    for field, wire, a, b in _fields(buf, start, end):
        if field != 1:
            continue
        if wire == 0:
            vals = [a]
        elif wire == 2:
            vals = []
            p = a
            while p < b:
                v, p = _varint(buf, p, b)
                vals.append(v)
        else:
            continue
        for v in vals:
            v &= 0xFFFFFFFFFFFFFFFF
            out.append(v - (1 << 64) if v >> 63 else v)
    return out


def decode_example(data):
    """tf.train.Example bytes -> {key: (kind, values)}; unknown fields skipped."""
    buf = memoryview(data)
    feats = {}
    for field, wire, a, b in _fields(buf, 0, len(buf)):
        if field != 1 or wire != 2:  # Example.features = 1; e.g. the empty 2
            continue
        for f2, w2, ea, eb in _fields(buf, a, b):  # Features.feature = 1 (map)
            if f2 != 1 or w2 != 2:
                continue
            key = ""
            value = None
            for f3, w3, va, vb in _fields(buf, ea, eb):
                if f3 == 1 and w3 == 2:
                    key = bytes(buf[va:vb]).decode("utf-8")
                elif f3 == 2 and w3 == 2:
                    value = (va, vb)
            decoded = ("none", [])
            if value is not None:
                for f4, w4, la, lb in _fields(buf, value[0], value[1]):
                    kind = {1: "bytes", 2: "float", 3: "int64"}.get(f4)
                    if kind and w4 == 2:  # oneof: the last one wins
                        decoded = (kind, _decode_list(buf, la, lb, kind))
            feats[key] = decoded
    return feats


# ---------------------------------------------------------------------------
# Data set loading
# ---------------------------------------------------------------------------


def expand_patterns(patterns):
    files = []
    for pat in patterns.split(","):
        pat = pat.strip()
        if not pat:
            continue
        hits = sorted(glob.glob(pat))
        if not hits:
            raise SystemExit("no file matches %r" % pat)
        files.extend(hits)
    return files


def load_dataset(patterns, names, sizes, num_classes, verify_data_crc=True):
    files = expand_patterns(patterns)
    dim = sum(sizes)
    rows, labels, ids = [], [], []
    for path in files:
        with open(path, "rb") as f:
            for r, data in enumerate(read_tfrecords(f, path, verify_data_crc)):
                where = "%s: record %d" % (path, r)
                try:
                    feats = decode_example(data)
                except DecodeError as e:
                    raise SystemExit("%s: %s" % (where, e))
                idf = feats.get("id") or feats.get("video_id")
                if idf is None or idf[0] != "bytes" or len(idf[1]) != 1:
                    raise SystemExit("%s: no 'id' (keys: %s)"
                                     % (where, ", ".join(sorted(feats))))
                ids.append(idf[1][0])
                lab = feats.get("labels", ("int64", []))
                if lab[0] not in ("int64", "none"):
                    raise SystemExit("%s: 'labels' is not an int64_list" % where)
                for c in lab[1]:
                    if c < 0 or c >= num_classes:
                        raise SystemExit("%s: label %d out of range [0, %d)"
                                         % (where, c, num_classes))
                labels.append(lab[1])
                parts = []
                for name, size in zip(names, sizes):
                    ft = feats.get(name)
                    if ft is None or ft[0] != "float":
                        raise SystemExit("%s: float feature %r missing" % (where, name))
                    if ft[1].size != size:
                        raise SystemExit("%s: %r has %d values, expected %d"
                                         % (where, name, ft[1].size, size))
                    parts.append(ft[1])
                rows.append(np.concatenate(parts))
    n = len(rows)
    x = np.empty((n, dim), F32)
    for i, row in enumerate(rows):
        x[i] = row
    y = np.zeros((n, num_classes), bool)
    for i, lab in enumerate(labels):
        y[i, lab] = True
    return files, ids, x, y


def l2_normalize(x):
    """x * rsqrt(max(sum(x^2), 1e-12)) per row, in x's dtype."""
    ss = np.einsum("ij,ij->i", x, x)
    np.maximum(ss, x.dtype.type(1e-12), out=ss)
    inv = np.reciprocal(np.sqrt(ss))
    return x * inv[:, None]


# ---------------------------------------------------------------------------
# Models, loss, optimizer
# ---------------------------------------------------------------------------


def sigmoid_(z):
    """In-place logistic: 1 / (1 + exp(-z))."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
    z += z.dtype.type(1)
    np.reciprocal(z, out=z)
    return z


def glorot(rng, fan_in, fan_out, dtype):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


class LogisticModel:
    def __init__(self, dim, num_classes, l2, rng, dtype=F32):
        self.C = num_classes
        self.params = {
            "fully_connected/weights": glorot(rng, dim, num_classes, dtype),
            "fully_connected/biases": np.zeros(num_classes, dtype),
        }
        self.l2 = {"fully_connected/weights": l2}

    def forward(self, x):
        z = x @ self.params["fully_connected/weights"]
        z += self.params["fully_connected/biases"]
        return sigmoid_(z), None

    def backward(self, x, p, cache, dp):
        dz = dp * p
        dz *= p.dtype.type(1) - p  # TF SigmoidGrad: grad * y * (1 - y)
        return {"fully_connected/weights": x.T @ dz,
                "fully_connected/biases": dz.sum(axis=0)}


class MoeModel:
    """Starter MoeModel.  Internally the columns of the gate and expert
    matrices are stored mixture-major (column m*C + c) instead of the starter's
    class-major flat layout (column c*(M+1) + m, resp. c*M + m), so that every
    elementwise operation runs on contiguous [B, C] slabs.  This is a pure
    relabelling of parameters: the initial draws are made in the starter's
    layout and permuted (to_internal), and the math is unchanged."""

    def __init__(self, dim, num_classes, num_mixtures, l2, rng, dtype=F32):
        self.C = num_classes
        self.M = num_mixtures
        C, M = num_classes, num_mixtures
        self.params = {
            "gates/weights": self.to_internal(glorot(rng, dim, C * (M + 1), dtype),
                                              M + 1),
            "experts/weights": self.to_internal(glorot(rng, dim, C * M, dtype), M),
            "experts/biases": np.zeros(C * M, dtype),
        }
        self.l2 = {"gates/weights": l2, "experts/weights": l2}

    def to_internal(self, w, k):
        """Starter column c*k + m -> internal column m*C + c."""
        lead = w.shape[:-1]
        return np.ascontiguousarray(
            w.reshape(lead + (self.C, k)).swapaxes(-1, -2).reshape(lead + (k * self.C,)))

    def to_starter(self, w, k):
        """Internal column m*C + c -> starter column c*k + m."""
        lead = w.shape[:-1]
        return np.ascontiguousarray(
            w.reshape(lead + (k, self.C)).swapaxes(-1, -2).reshape(lead + (k * self.C,)))

    def forward(self, x):
        C, M = self.C, self.M
        gl = x @ self.params["gates/weights"]  # [B, (M+1)C], slab m = gate m
        g = [gl[:, m * C:(m + 1) * C] for m in range(M + 1)]
        mx = np.maximum(g[0], g[1])
        for m in range(2, M + 1):
            np.maximum(mx, g[m], out=mx)
        den = None
        for m in range(M + 1):  # softmax over the M+1 slots of each class
            np.subtract(g[m], mx, out=g[m])
            np.exp(g[m], out=g[m])
            if den is None:
                den = g[m].copy()
            else:
                den += g[m]
        for m in range(M + 1):
            g[m] /= den
        el = x @ self.params["experts/weights"]
        el += self.params["experts/biases"]
        sigmoid_(el)
        s = [el[:, m * C:(m + 1) * C] for m in range(M)]
        p = g[0] * s[0]
        for m in range(1, M):  # slot M, the dummy expert, predicts 0
            p += g[m] * s[m]
        return p, (gl, el)

    def backward(self, x, p, cache, dp):
        gl, el = cache
        B, C, M = x.shape[0], self.C, self.M
        one = x.dtype.type(1)
        de = np.empty((B, M * C), x.dtype)
        dg = np.empty((B, (M + 1) * C), x.dtype)
        t = np.empty((B, C), x.dtype)
        for m in range(M):
            gm = gl[:, m * C:(m + 1) * C]
            sm = el[:, m * C:(m + 1) * C]
            dem = de[:, m * C:(m + 1) * C]
            np.multiply(dp, gm, out=dem)  # d p / d s_m = g_m
            dem *= sm
            np.subtract(one, sm, out=t)
            dem *= t  # sigmoid grad s (1 - s)
            # softmax grad: g_m (dp s_m - sum_k dp s_k g_k) = g_m dp (s_m - p)
            dgm = dg[:, m * C:(m + 1) * C]
            np.subtract(sm, p, out=dgm)
            dgm *= gm
            dgm *= dp
        dgm = dg[:, M * C:]
        np.multiply(gl[:, M * C:], p, out=dgm)  # dummy slot: d p / d g_M = 0
        dgm *= dp
        np.negative(dgm, out=dgm)
        return {"gates/weights": x.T @ dg,
                "experts/weights": x.T @ de,
                "experts/biases": de.sum(axis=0)}


def ce_loss(p, y, want_grad=True):
    """Starter CrossEntropyLoss: mean_b sum_c -[y log(p+eps) + (1-y) log(1-p+eps)].

    y is a bool matrix.  Returns (loss, dL/dp or None)."""
    dt = p.dtype.type
    eps = dt(1e-5)
    omp = dt(1) - p
    omp += eps
    q = np.where(y, p + eps, omp)  # the one log term that is not multiplied by 0
    logq = np.log(q)
    loss = -logq.sum(axis=1).mean()
    if not want_grad:
        return loss, None
    # d/dp: -y/(p+eps) + (1-y)/(1-p+eps), times 1/B from the mean
    dp = np.reciprocal(q, out=q)
    dp *= dt(1.0 / p.shape[0])
    np.negative(dp, out=dp, where=y)
    return loss, dp


def clip_by_norm_(g, clip_norm=1.0):
    """tf.clip_by_norm per variable: g * clip / max(||g||, clip), in place."""
    flat = g.reshape(-1)
    l2sum = np.dot(flat, flat)
    norm = math.sqrt(float(l2sum)) if l2sum > 0 else 0.0
    if norm > clip_norm:
        g *= g.dtype.type(clip_norm)
        g /= g.dtype.type(norm)
    return norm


class Adam:
    """TF AdamOptimizer (ApplyAdam kernel), float32 state and beta powers."""

    def __init__(self, params, beta1=0.9, beta2=0.999, epsilon=1e-8):
        dt = next(iter(params.values())).dtype.type
        self.dt = dt
        self.b1, self.b2, self.eps = dt(beta1), dt(beta2), dt(epsilon)
        self.b1p, self.b2p = dt(1), dt(1)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}
        self.tmp2 = {k: np.empty_like(v) for k, v in params.items()}

    def step(self, params, grads, lr):
        dt = self.dt
        one = dt(1)
        self.b1p = dt(self.b1p * self.b1)  # beta powers after this step's t
        self.b2p = dt(self.b2p * self.b2)
        alpha = dt(dt(lr) * np.sqrt(one - self.b2p) / (one - self.b1p))
        for k, w in params.items():
            g, m, v, t, t2 = grads[k], self.m[k], self.v[k], self.tmp[k], self.tmp2[k]
            np.subtract(g, m, out=t)
            t *= one - self.b1
            m += t
            np.multiply(g, g, out=t)
            t -= v
            t *= one - self.b2
            v += t
            np.sqrt(v, out=t)
            t += self.eps
            np.multiply(m, alpha, out=t2)
            t2 /= t
            w -= t2


def learning_rate(step, base, decay, batch_size, decay_examples):
    return base * decay ** math.floor(step * batch_size / decay_examples)


def make_model(args, dim, rng, dtype=F32):
    if args.model == "LogisticModel":
        return LogisticModel(dim, args.num_classes, args.l2_penalty, rng, dtype)
    return MoeModel(dim, args.num_classes, args.moe_num_mixtures, args.moe_l2,
                    rng, dtype)


def train_step(model, opt, xb, yb, lr, clip_norm=1.0):
    x = l2_normalize(xb)
    p, cache = model.forward(x)
    loss, dp = ce_loss(p, yb)
    grads = model.backward(x, p, cache, dp)
    for k, s in model.l2.items():  # d/dw of s*sum(w^2)/2
        grads[k] += model.params[k].dtype.type(s) * model.params[k]
    if clip_norm > 0:
        for g in grads.values():
            clip_by_norm_(g, clip_norm)
    opt.step(model.params, grads, lr)
    return loss


# ---------------------------------------------------------------------------
# Evaluation: eval_util.py / average_precision_calculator.py semantics
# ---------------------------------------------------------------------------


def calculate_hit_at_one(predictions, actuals):
    top = np.argmax(predictions, 1)
    hits = actuals[np.arange(actuals.shape[0]), top]
    return np.average(hits)


def calculate_perr(predictions, actuals):
    agg = 0.0
    n = actuals.shape[0]
    for row in range(n):
        k = int(np.sum(actuals[row]))
        top = np.argpartition(predictions[row], -k)[-k:]  # k = 0: whole row
        sel = top[predictions[row][top] > 0]
        item = 0.0 + float(np.sum(actuals[row][sel]))
        item /= top.size
        agg += item
    return agg / n


def top_k_by_class(predictions, labels, k=20):
    k = min(k, predictions.shape[1])
    num_classes = predictions.shape[1]
    out_p = [[] for _ in range(num_classes)]
    out_l = [[] for _ in range(num_classes)]
    for v in range(predictions.shape[0]):
        idx = np.argpartition(predictions[v], -k)[-k:]
        pv = predictions[v][idx].tolist()
        lv = labels[v][idx].tolist()
        for c, pp, ll in zip(idx.tolist(), pv, lv):
            out_p[c].append(pp)
            out_l[c].append(ll)
    num_pos = labels.sum(axis=0).tolist()
    return out_p, out_l, num_pos


class APCalculator:
    """AveragePrecisionCalculator(top_n=None): heap, shuffle, stable sort."""

    def __init__(self):
        self.heap = []
        self.total_positives = 0

    def accumulate(self, preds, acts, num_positives):
        self.total_positives += num_positives
        heap = self.heap
        for pr, ac in zip(preds, acts):
            heapq.heappush(heap, (pr, ac))

    def peek_ap(self):
        if not self.heap:
            return 0
        return ap_at_n([h[0] for h in self.heap], [h[1] for h in self.heap],
                       self.total_positives)


def ap_at_n(preds, acts, total_positives):
    n = len(preds)
    random.seed(0)
    perm = random.sample(range(n), n)
    preds = [preds[i] for i in perm]
    acts = [acts[i] for i in perm]
    order = sorted(range(n), key=preds.__getitem__, reverse=True)
    if total_positives == 0:
        return 0
    delta = 1.0 / total_positives
    pos = 0.0
    ap = 0.0
    for i, j in enumerate(order):
        if acts[j] > 0:
            pos += 1
            ap += pos / (i + 1) * delta
    return ap


class EvaluationMetrics:
    def __init__(self, num_classes, top_k=20):
        self.num_classes = num_classes
        self.top_k = top_k
        self.sum_hit = 0.0
        self.sum_perr = 0.0
        self.sum_loss = 0.0
        self.n = 0
        self.class_calcs = [APCalculator() for _ in range(num_classes)]
        self.global_calc = APCalculator()

    def accumulate(self, predictions, labels, loss):
        b = labels.shape[0]
        hit = calculate_hit_at_one(predictions, labels)
        perr = calculate_perr(predictions, labels)
        sp, sl, npos = top_k_by_class(predictions, labels, self.top_k)
        for c in range(self.num_classes):
            self.class_calcs[c].accumulate(sp[c], sl[c], npos[c])
        self.global_calc.accumulate([v for lst in sp for v in lst],
                                    [v for lst in sl for v in lst], sum(npos))
        self.n += b
        self.sum_hit += float(hit) * b
        self.sum_perr += perr * b
        self.sum_loss += float(loss) * b
        return hit, perr

    def get(self):
        aps = [c.peek_ap() for c in self.class_calcs if c.total_positives > 0]
        return {"hit1": self.sum_hit / self.n, "perr": self.sum_perr / self.n,
                "loss": self.sum_loss / self.n,
                "map": float(np.mean(aps)) if aps else float("nan"),
                "gap": float(self.global_calc.peek_ap()),
                "num_classes": len(aps)}


def evaluate(model, x, y, batch_size, top_k):
    metrics = EvaluationMetrics(y.shape[1], top_k)
    yf = y.astype(F32)
    for s in range(0, x.shape[0], batch_size):
        xb = l2_normalize(x[s:s + batch_size])
        p, _ = model.forward(xb)
        loss, _ = ce_loss(p, y[s:s + batch_size], want_grad=False)
        metrics.accumulate(p, yf[s:s + batch_size], loss)
    return metrics.get()


def format_eval(r, epoch_id=0):
    return ("epoch/eval number %s | Avg_Hit@1: %.3f | Avg_PERR: %.3f | MAP: %.3f "
            "| GAP: %.3f | Avg_Loss: %3f | num_classes: %d"
            % (epoch_id, r["hit1"], r["perr"], r["map"], r["gap"], r["loss"],
               r["num_classes"]))


# ---------------------------------------------------------------------------
# BLAS threads
# ---------------------------------------------------------------------------


def _openblas():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f
                     if "blas" in line and line.split()[-1].startswith("/")}
    except OSError:
        return None, None
    for path in sorted(paths, key=lambda p: ("openblas" not in os.path.basename(p), p)):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_num_threads  # noqa: B018 (probe the symbol)
            return lib, path
        except (OSError, AttributeError):
            continue
    return None, None


def blas_info(set_threads=None):
    lib, path = _openblas()
    if lib is None:
        return "BLAS threads: unknown (OpenBLAS not detected)"
    if set_threads:
        lib.openblas_set_num_threads(int(set_threads))
    n = lib.openblas_get_num_threads()
    cfg = ""
    try:
        lib.openblas_get_config.restype = ctypes.c_char_p
        cfg = " (" + lib.openblas_get_config().decode() + ")"
    except AttributeError:
        pass
    return "BLAS threads: %d, %s%s" % (n, path, cfg)


# ---------------------------------------------------------------------------
# Self test
# ---------------------------------------------------------------------------


def _pb_varint(v):
    v &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_ld(field, payload):
    return _pb_varint(field << 3 | 2) + _pb_varint(len(payload)) + payload


def selftest():
    ok = True

    def check(cond, what):
        nonlocal ok
        print("%s %s" % ("ok  " if cond else "FAIL", what))
        ok = ok and bool(cond)

    # CRC32C and framing
    check(crc32c(b"123456789") == 0xE3069283, "crc32c('123456789') = 0xE3069283")
    rec = frame_record(b"hello")
    got = list(read_tfrecords(io.BytesIO(rec + rec), "mem"))
    check(got == [b"hello", b"hello"], "TFRecord framing round trip")
    bad = bytearray(rec)
    bad[-1] ^= 1
    try:
        list(read_tfrecords(io.BytesIO(bytes(bad)), "mem"))
        check(False, "data CRC mismatch detected")
    except RecordError:
        check(True, "data CRC mismatch detected")
    check(list(read_tfrecords(io.BytesIO(bytes(bad)), "mem", False)) == [b"hello"],
          "data CRC skipped when asked")
    bad = bytearray(rec)
    bad[0] ^= 1
    try:
        list(read_tfrecords(io.BytesIO(bytes(bad)), "mem", False))
        check(False, "length CRC mismatch detected")
    except RecordError:
        check(True, "length CRC mismatch detected")

    # Example decoding: packed and unpacked lists, map order, unknown fields
    floats = np.array([1.5, -2.25, 3.0], "<f4")
    f_packed = _pb_ld(2, _pb_ld(1, floats.tobytes()))
    f_unpacked = _pb_ld(2, b"".join(b"\x0d" + np.float32(v).astype("<f4").tobytes()
                                    for v in (0.5, 7.0)))
    i_packed = _pb_ld(3, _pb_ld(1, b"".join(_pb_varint(v) for v in (3, 300, -1))))
    i_unpacked = _pb_ld(3, b"\x08\x05\x08\x00" + b"\x10\x07")  # + unknown field 2
    b_list = _pb_ld(1, _pb_ld(1, b"ab12"))

    def entry(key, feat):
        return _pb_ld(1, _pb_ld(1, key.encode()) + _pb_ld(2, feat))

    features = (entry("mean_audio", f_unpacked) + entry("labels", i_packed)
                + entry("id", b_list) + entry("mean_rgb", f_packed)
                + entry("other", i_unpacked))
    ex = b"\x18\x2a" + _pb_ld(1, features) + b"\x12\x00"
    d = decode_example(ex)
    check(d["id"] == ("bytes", [b"ab12"]), "bytes_list id")
    check(d["labels"] == ("int64", [3, 300, -1]), "packed int64 (incl. -1)")
    check(d["other"] == ("int64", [5, 0]), "unpacked int64, unknown field skipped")
    check(d["mean_rgb"][0] == "float" and
          np.array_equal(d["mean_rgb"][1], floats), "packed float_list")
    check(np.array_equal(d["mean_audio"][1], np.array([0.5, 7.0], F32)),
          "unpacked float_list")

    # Real shard, first record (REFERENCE / SOURCES: "02aa", labels [3,4,9,34])
    real = "/work/shared/data/validate0000.tfrecord"
    if os.path.exists(real):
        with open(real, "rb") as f:
            d = decode_example(next(read_tfrecords(f, real)))
        check(d["id"][1] == [b"02aa"] and d["labels"][1] == [3, 4, 9, 34]
              and d["mean_rgb"][1].size == 1024 and d["mean_audio"][1].size == 128
              and abs(d["mean_rgb"][1][0] + 0.7816) < 1e-3,
              "real shard first record: id 02aa, labels [3,4,9,34], 1024+128")

    # L2 normalization
    xn = l2_normalize(np.array([[3, 4], [0, 0]], F32))
    check(np.allclose(xn, [[0.6, 0.8], [0, 0]]) and xn.dtype == F32,
          "l2_normalize ([3,4] -> [.6,.8], zero row stays 0)")

    # Loss value
    loss, _ = ce_loss(np.array([[0.5, 0.25]], F32), np.array([[True, False]]))
    want = -(math.log(0.5 + 1e-5) + math.log(0.75 + 1e-5))
    check(abs(float(loss) - want) < 1e-5, "cross entropy value (eps 1e-5)")

    # Gradients by finite differences, float64
    class A:
        pass

    for name in ("LogisticModel", "MoeModel"):
        args = A()
        args.model, args.num_classes, args.moe_num_mixtures = name, 5, 2
        args.l2_penalty = args.moe_l2 = 0.3
        rng = np.random.default_rng(7)
        model = make_model(args, 4, rng, np.float64)
        for k in model.params:
            model.params[k] += rng.normal(0, 0.3, model.params[k].shape)
        xb = rng.normal(size=(6, 4))
        yb = rng.random((6, 5)) < 0.4

        def total_loss():
            p, _ = model.forward(xb)
            lo, _ = ce_loss(p, yb, False)
            for k, s in model.l2.items():
                lo += s * np.sum(model.params[k] ** 2) / 2
            return lo

        p, cache = model.forward(xb)
        _, dp = ce_loss(p, yb)
        grads = model.backward(xb, p, cache, dp)
        for k, s in model.l2.items():
            grads[k] = grads[k] + s * model.params[k]
        worst = 0.0
        for k, w in model.params.items():
            for idx in np.ndindex(w.shape):
                old = w[idx]
                w[idx] = old + 1e-6
                lp = total_loss()
                w[idx] = old - 1e-6
                lm = total_loss()
                w[idx] = old
                num = (lp - lm) / 2e-6
                worst = max(worst, abs(num - grads[k][idx]) / max(1.0, abs(num)))
        check(worst < 1e-6, "%s gradient vs finite differences (max err %.1e)"
              % (name, worst))

    # MoE forward against a direct formula (dummy expert predicts 0)
    args = A()
    args.model, args.num_classes, args.moe_num_mixtures, args.moe_l2 = \
        "MoeModel", 3, 2, 1e-8
    model = make_model(args, 2, np.random.default_rng(3), np.float64)
    model.params["experts/biases"][:] = model.to_internal(
        np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.5]), 2)
    xb = np.array([[0.3, -1.0]])
    p, _ = model.forward(xb)
    wg = model.to_starter(model.params["gates/weights"], 3)  # column c*3 + m
    we = model.to_starter(model.params["experts/weights"], 2)  # column c*2 + m
    be = model.to_starter(model.params["experts/biases"], 2)
    check(np.array_equal(be, [0.1, -0.2, 0.3, 0.0, 0.5, -0.5]) and np.array_equal(
        model.to_internal(wg, 3), model.params["gates/weights"]), "MoE layout round trip")
    gl = (xb @ wg).reshape(3, 3)
    el = (xb @ we + be).reshape(3, 2)
    sm = np.exp(gl) / np.exp(gl).sum(1, keepdims=True)
    want = (sm[:, :2] / (1 + np.exp(-el))).sum(1)
    check(np.allclose(p[0], want), "MoE forward (column c*(M+1)+m, dummy slot M)")

    # Clipping, Adam, learning rate
    g = np.array([3, 4], F32)
    clip_by_norm_(g)
    h = np.array([0.3, 0.4], F32)
    clip_by_norm_(h)
    check(np.allclose(g, [0.6, 0.8]) and np.array_equal(h, np.array([0.3, 0.4], F32)),
          "clip_by_norm 1.0 per variable")
    w = {"w": np.array([1.0, 1.0], F32)}
    opt = Adam(w)
    opt.step(w, {"w": np.array([0.5, -2.0], F32)}, 0.01)
    check(np.allclose(w["w"], [0.99, 1.01], atol=1e-6), "Adam step 1 moves by lr*sign(g)")
    opt.step(w, {"w": np.array([0.5, -2.0], F32)}, 0.01)
    check(np.allclose(w["w"], [0.98, 1.02], atol=1e-6), "Adam step 2 (bias correction)")
    check(learning_rate(3906, 0.01, 0.95, 1024, 4e6) == 0.01 and
          abs(learning_rate(3907, 0.01, 0.95, 1024, 4e6) - 0.0095) < 1e-12,
          "staircase lr: 0.01 until step 3906, 0.0095 at 3907")

    # Hit@1: the first index wins a tie
    pr = np.array([[0.9, 0.9, 0.1], [0.2, 0.1, 0.3]], F32)
    la = np.array([[0, 1, 0], [0, 0, 1]], F32)
    check(calculate_hit_at_one(pr, la) == 0.5, "Hit@1 (tie -> first index)")

    # PERR: row 0 k=2 -> 1/2; row 1 k=0 -> 0 but counts; row 2 k=1, pred 0 -> 0
    pr = np.array([[0.9, 0.8, 0.1, 0.7], [0.9, 0.8, 0.1, 0.7],
                   [0.0, 0.0, 0.0, 0.0]], F32)
    la = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]], F32)
    check(abs(calculate_perr(pr, la) - 0.5 / 3) < 1e-12,
          "PERR (k=0 row counts, pred 0 not counted)")

    # GAP / mAP with top_k = 2 and a positive that misses every top 2
    pr = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]], F32)
    la = np.array([[1, 0, 1], [0, 1, 0]], F32)
    m = EvaluationMetrics(3, top_k=2)
    m.accumulate(pr, la, 1.0)
    r = m.get()
    # pooled top 2: 0.9+ 0.8- 0.7+ 0.6-; P = 3: (1/1 + 2/3) / 3
    check(abs(r["gap"] - (1 + 2 / 3) / 3) < 1e-12, "GAP (P counts positives "
          "outside the top k)")
    # class 0: [0.9+] P=1 -> 1; class 1: [0.8-, 0.7+] P=1 -> 1/2;
    # class 2: P=1 but [0.6-] only -> 0
    check(abs(r["map"] - (1 + 0.5 + 0) / 3) < 1e-12 and r["num_classes"] == 3,
          "mAP per class, AP 0 for a missed class")
    la2 = np.array([[1, 0, 0], [0, 1, 0]], F32)
    m = EvaluationMetrics(3, top_k=2)
    m.accumulate(pr, la2, 1.0)
    r = m.get()
    check(r["num_classes"] == 2 and abs(r["map"] - 0.75) < 1e-12,
          "mAP drops classes without positives (num_classes 2)")
    # Ties: equal scores, order from the heap + random.seed(0) permutation,
    # recomputed here the starter's way (numpy arrays of zip(*heap))
    calc = APCalculator()
    acts_in = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    calc.accumulate([0.5] * 10, acts_in, 3)
    predlists = np.array(list(zip(*calc.heap)))
    random.seed(0)
    suff = random.sample(range(10), 10)
    prs, acs = predlists[0][suff], predlists[1][suff]
    order = sorted(range(10), key=lambda k: prs[k], reverse=True)
    pos, want = 0.0, 0.0
    for i in range(10):
        if acs[order[i]] > 0:
            pos += 1
            want += pos / (i + 1) * (1.0 / 3)
    check(calc.peek_ap() == want and 0 < want < 1, "GAP ties follow the heap + "
          "random.sample(range(n), n) order (AP %.4f)" % want)
    return ok


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--train")
    ap.add_argument("--eval")
    ap.add_argument("--model", default="LogisticModel",
                    choices=["LogisticModel", "MoeModel"])
    ap.add_argument("--batch_size", type=int, default=1024)
    ap.add_argument("--eval_batch_size", type=int, default=1024)
    ap.add_argument("--num_epochs", type=int, default=5)
    ap.add_argument("--base_learning_rate", type=float, default=0.01)
    ap.add_argument("--learning_rate_decay", type=float, default=0.95)
    ap.add_argument("--learning_rate_decay_examples", type=float, default=4000000)
    ap.add_argument("--clip_gradient_norm", type=float, default=1.0)
    ap.add_argument("--moe_num_mixtures", type=int, default=2)
    ap.add_argument("--moe_l2", type=float, default=1e-8)
    ap.add_argument("--l2_penalty", type=float, default=1e-8)
    ap.add_argument("--feature_names", default="mean_rgb,mean_audio")
    ap.add_argument("--feature_sizes", default="1024,128")
    ap.add_argument("--num_classes", type=int, default=3862)
    ap.add_argument("--top_k", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval_at", default="",
                    help="comma-separated epochs after which to evaluate too")
    ap.add_argument("--no_data_crc", action="store_true")
    ap.add_argument("--blas_threads", type=int, default=0)
    ap.add_argument("--batching", choices=("stream", "epoch"), default="stream")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if not args.selftest and not (args.train and args.eval):
        ap.error("--train and --eval are required (or --selftest)")
    if args.num_epochs < 1 or args.batch_size < 1 or args.eval_batch_size < 1:
        ap.error("--num_epochs and the batch sizes must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.selftest:
        ok = selftest()
        print("selftest: %s" % ("PASSED" if ok else "FAILED"))
        return 0 if ok else 1

    names = [s.strip() for s in args.feature_names.split(",")]
    sizes = [int(s) for s in args.feature_sizes.split(",")]
    if len(names) != len(sizes):
        raise SystemExit("--feature_names and --feature_sizes differ in length")
    print(blas_info(args.blas_threads))
    print("numpy %s, python %s" % (np.__version__, sys.version.split()[0]))

    t0 = time.perf_counter()
    tfiles, _, xtr, ytr = load_dataset(args.train, names, sizes, args.num_classes,
                                       not args.no_data_crc)
    efiles, _, xev, yev = load_dataset(args.eval, names, sizes, args.num_classes,
                                       not args.no_data_crc)
    load_s = time.perf_counter() - t0
    print("loaded %d train examples (%d files), %d eval examples (%d files), "
          "dim %d, in %.2f s (data CRC %s)"
          % (xtr.shape[0], len(tfiles), xev.shape[0], len(efiles), xtr.shape[1],
             load_s, "skipped" if args.no_data_crc else "verified"))

    rng = np.random.default_rng(args.seed)
    model = make_model(args, xtr.shape[1], rng)
    opt = Adam(model.params)
    eval_at = {int(e) for e in args.eval_at.split(",") if e.strip()}
    history = []
    n = xtr.shape[0]
    bs = args.batch_size
    step = 0
    train_s = 0.0
    epoch_times = []
    # the batches: (epoch that ends with this batch or 0, example indices)
    perms = [rng.permutation(n) for _ in range(args.num_epochs)]
    if args.batching == "stream":
        order = np.concatenate(perms) if perms else np.zeros(0, np.int64)
        batches = []
        for s in range(0, order.size, bs):
            idx = order[s:s + bs]
            done = (s + idx.size) // n  # epochs complete after this batch
            batches.append((done if done > s // n else 0, idx))
    else:
        batches = [(e + 1 if s + bs >= n else 0, p[s:s + bs])
                   for e, p in enumerate(perms) for s in range(0, n, bs)]
    epoch = 0
    t_start = time.perf_counter()
    loss_sum = 0.0
    for ends, idx in batches:
        lr = learning_rate(step, args.base_learning_rate,
                           args.learning_rate_decay, bs,
                           args.learning_rate_decay_examples)
        loss = train_step(model, opt, xtr[idx], ytr[idx], lr,
                          args.clip_gradient_norm)
        loss_sum += float(loss) * idx.size
        step += 1
        if not ends or ends <= epoch:
            continue
        epoch_s = time.perf_counter() - t_start
        train_s += epoch_s
        epoch_times.append(epoch_s / (ends - epoch))
        epoch = ends
        print("epoch %d | steps %d | Loss: %.4f | lr %g | %.2f s | %.1f examples/s"
              % (epoch, step, loss_sum / n, lr, epoch_s, n / epoch_s), flush=True)
        loss_sum = 0.0
        if epoch in eval_at and epoch != args.num_epochs:
            r = evaluate(model, xev, yev, args.eval_batch_size, args.top_k)
            r.update(epoch=epoch, train_seconds=train_s)
            history.append(r)
            print("  after epoch %d: %s" % (epoch, format_eval(r)), flush=True)
        t_start = time.perf_counter()

    eps = n * args.num_epochs / train_s if train_s > 0 else float("nan")
    print("training: %d epochs, %d steps, %d examples in %.3f s, %.1f examples/s"
          % (args.num_epochs, step, n * args.num_epochs, train_s, eps))
    ep_min, ep_med = min(epoch_times), float(np.median(epoch_times))
    print("epoch seconds: min %.3f, median %.3f, max %.3f (a busy machine shows "
          "as max >> min)" % (ep_min, ep_med, max(epoch_times)))
    t0 = time.perf_counter()
    r = evaluate(model, xev, yev, args.eval_batch_size, args.top_k)
    eval_s = time.perf_counter() - t0
    print("Done with batched inference. Now calculating global performance metrics.")
    print(format_eval(r))
    print("Total: examples_processed: %d" % xev.shape[0])
    print("(evaluation %.2f s, not part of the training time)" % eval_s)
    if args.json:
        out = {"model": args.model, "train_examples": int(n),
               "eval_examples": int(xev.shape[0]), "train_seconds": train_s,
               "examples_per_sec": eps, "hit1": r["hit1"], "perr": r["perr"],
               "gap": r["gap"], "map": r["map"], "loss": r["loss"],
               "num_classes": r["num_classes"], "epochs": args.num_epochs,
               "load_seconds": load_s, "epoch_seconds_min": ep_min,
               "epoch_seconds_median": ep_med, "steps": step,
               "batching": args.batching}
        if history:
            out["history"] = history + [dict(r, epoch=args.num_epochs,
                                             train_seconds=train_s)]
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
