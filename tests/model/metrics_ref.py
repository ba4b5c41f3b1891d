"""metrics_ref.py: an independent NumPy reimplementation of the starter's
evaluation metrics (eval_util.py, average_precision_calculator.py,
mean_average_precision_calculator.py), written from REFERENCE.md 4.1-4.4, for
test_metrics_numpy.sh. The tie order uses Python's own heapq and random
modules, as the reference does. Run by Debian's python3 (numpy 1.x).

Ties at the top-k boundary (argpartition is implementation-defined) are broken
here as in yt8m-flow: the lower class index wins (stable argsort).

  metrics_ref.py gen DIR B C SEED        -> DIR/preds.bin DIR/labels.bin
  metrics_ref.py eval PREDS LABELS B C BATCH TOP_K   -> JSON
  metrics_ref.py compare C.json PY.json  -> exit 1 on a mismatch
  metrics_ref.py mt N | sample N K SEED  -> values from Python's random
"""
import heapq
import json
import random
import sys

import numpy as np


class APCalc:
    """AveragePrecisionCalculator(top_n=None): a heapq of (pred, actual)."""

    def __init__(self, use_heap=True):
        self.heap = []
        self.positives = 0.0
        self.use_heap = use_heap  # False: a plain list in push order (a check only)

    def accumulate(self, preds, actuals, num_positives):
        self.positives += num_positives
        for p, a in zip(preds, actuals):
            if self.use_heap:
                heapq.heappush(self.heap, (p, a))
            else:
                self.heap.append((p, a))

    def peek(self, shuffle=True):
        if not self.heap:
            return 0.0
        preds = [h[0] for h in self.heap]
        acts = [h[1] for h in self.heap]
        if self.positives == 0:
            return 0.0
        n = len(preds)
        if shuffle:
            random.seed(0)
            idx = random.sample(range(n), n)
            preds = [preds[i] for i in idx]
            acts = [acts[i] for i in idx]
        order = sorted(range(n), key=lambda k: preds[k], reverse=True)
        ap, pos, delta = 0.0, 0.0, 1.0 / self.positives
        for i, k in enumerate(order):
            if acts[k] > 0:
                pos += 1
                ap += pos / (i + 1) * delta
        return ap


def topk(row, k):
    """The k largest, ties: lower index first."""
    return np.argsort(-row, kind="stable")[:k]


def hit_at_one(p, l):
    return float(np.mean(l[np.arange(l.shape[0]), np.argmax(p, axis=1)].astype(np.float64)))


def perr(p, l):
    total = 0.0
    for r in range(p.shape[0]):
        k = int(np.sum(l[r].astype(np.float64)))
        top = np.arange(p.shape[1]) if k == 0 else topk(p[r], k)  # [-0:] is the whole row
        item = sum(float(l[r, i]) for i in top if p[r, i] > 0)
        total += item / len(top)
        # the starter's own argpartition agrees where the k-th value is not tied
        if 0 < k < p.shape[1]:
            s = np.sort(p[r])[::-1]
            if s[k - 1] != s[k]:
                lit = np.argpartition(p[r], -k)[-k:]
                assert set(lit.tolist()) == set(top.tolist()), "argpartition disagrees"
    return total / p.shape[0]


def top_k_by_class(p, l, k):
    C = p.shape[1]
    k = min(k, C)
    preds = [[] for _ in range(C)]
    labs = [[] for _ in range(C)]
    for v in range(p.shape[0]):
        for c in topk(p[v], k):
            preds[c].append(float(p[v, c]))
            labs[c].append(float(l[v, c]))
    return preds, labs, [float(x) for x in l.astype(np.float64).sum(axis=0)]


def flatten(ll):
    return [x for sub in ll for x in sub]


def evaluate(p, l, batch, top_k):
    B, C = p.shape
    gap, gap_plain, gap_list = APCalc(), APCalc(), APCalc(use_heap=False)
    per_class = [APCalc() for _ in range(C)]
    n = 0
    sums = [0.0, 0.0, 0.0]
    batch0 = None
    for bi, i in enumerate(range(0, B, batch)):
        pb, lb = p[i:i + batch], l[i:i + batch]
        bs = pb.shape[0]
        h, e, loss = hit_at_one(pb, lb), perr(pb, lb), bi + 0.25
        sp, sl, npos = top_k_by_class(pb, lb, top_k)
        for c in range(C):
            per_class[c].accumulate(sp[c], sl[c], npos[c])
        gap.accumulate(flatten(sp), flatten(sl), sum(npos))
        gap_plain.accumulate(flatten(sp), flatten(sl), sum(npos))
        gap_list.accumulate(flatten(sp), flatten(sl), sum(npos))
        if bi == 0:  # train.py's calculate_gap on one batch
            g1 = APCalc()
            g1.accumulate(flatten(sp), flatten(sl), sum(npos))
            batch0 = {"hit_at_one": h, "perr": e, "gap": g1.peek(), "loss": loss}
        n += bs
        sums[0] += h * bs
        sums[1] += e * bs
        sums[2] += loss * bs
    aps = [a.peek() for a in per_class if a.positives > 0]
    never = sum(1 for a in per_class if a.positives > 0 and not a.heap)
    return {
        "examples": n, "hit_at_one": sums[0] / n, "perr": sums[1] / n, "loss": sums[2] / n,
        "gap": gap.peek(), "map": float(np.mean(aps)), "num_classes": len(aps),
        "batch0": batch0,
        # what makes the data a real test
        "gap_unshuffled": gap_plain.peek(shuffle=False), "gap_push_order": gap_list.peek(),
        "empty_classes": C - len(aps), "classes_never_in_top": never,
        "zero_label_rows": int(np.sum(l.sum(axis=1) == 0)),
    }


def gen(out, B, C, seed):
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, C + 1) ** 1.3
    w = w[rng.permutation(C)]
    w /= w.sum()
    labels = np.zeros((B, C), np.float32)
    for v in range(B):
        m = rng.choice([0, 1, 2, 3, 4, 6], p=[0.05, 0.2, 0.3, 0.25, 0.15, 0.05])
        labels[v, rng.choice(C, size=m, replace=False, p=w)] = 1
    # class priors (some classes are never scored high) and 30% missed positives
    prior = rng.random(C) ** 2
    boost = labels * (rng.random((B, C)) < 0.7) * rng.random((B, C)) * 0.7
    preds = rng.random((B, C)) ** 4 * 0.6 * prior + boost
    sat = rng.random(B) < 0.05  # saturated sigmoids: several exact 1.0
    preds[sat, :5] = 1.0
    preds = np.round(np.clip(preds, 0, 1), 2).astype(np.float32)  # heavy ties
    preds.tofile(out + "/preds.bin")
    labels.tofile(out + "/labels.bin")


def compare(cj, pj):
    c, p = json.load(open(cj)), json.load(open(pj))
    bad = []
    for key in ("hit_at_one", "perr", "loss", "gap", "map"):
        if abs(c[key] - p[key]) > 1e-9:
            bad.append("%s: C %.17g, numpy %.17g" % (key, c[key], p[key]))
    for key in ("hit_at_one", "perr", "gap", "loss"):
        if abs(c["batch0"][key] - p["batch0"][key]) > 1e-9:
            bad.append("batch0 %s: C %.17g, numpy %.17g" % (key, c["batch0"][key], p["batch0"][key]))
    for key in ("examples", "num_classes"):
        if c[key] != p[key]:
            bad.append("%s: C %d, numpy %d" % (key, c[key], p[key]))
    # the data must exercise the quirks, or the comparison proves little
    if abs(p["gap_unshuffled"] - p["gap"]) <= 1e-9:
        bad.append("data too weak: the shuffle does not change GAP")
    if abs(p["gap_push_order"] - p["gap"]) <= 1e-9:
        bad.append("data too weak: the heap order does not change GAP")
    for key in ("empty_classes", "classes_never_in_top", "zero_label_rows"):
        if p[key] <= 0:
            bad.append("data too weak: no %s" % key)
    print("C      %s" % json.dumps(c))
    print("numpy  %s" % json.dumps(p))
    for b in bad:
        print("MISMATCH " + b)
    return 1 if bad else 0


def main(a):
    if a[0] == "gen":
        gen(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif a[0] == "eval":
        B, C = int(a[3]), int(a[4])
        p = np.fromfile(a[1], np.float32).reshape(B, C)
        l = np.fromfile(a[2], np.float32).reshape(B, C)
        print(json.dumps(evaluate(p, l, int(a[5]), int(a[6]))))
    elif a[0] == "compare":
        return compare(a[1], a[2])
    elif a[0] == "mt":
        random.seed(0)
        for _ in range(int(a[1])):
            print(random.getrandbits(32))
    elif a[0] == "sample":
        random.seed(int(a[3]))
        for x in random.sample(range(int(a[1])), int(a[2])):
            print(x)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
