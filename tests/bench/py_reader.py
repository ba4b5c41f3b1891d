#!/usr/bin/python3
"""Baseline YouTube-8M reader: what a user *without TensorFlow* writes.

Benchmark baseline for tests/bench/bench_read.sh.  Uses only Debian's
system python3 with python3-numpy and python3-protobuf; no TensorFlow and
no protoc-generated modules.  The tf.train.Example / SequenceExample
message classes are built at runtime from a FileDescriptorProto written in
code, with TensorFlow's field numbers (see docs / REFERENCE.md 1.2-1.7).

Usage:
    /usr/bin/python3 py_reader.py --level video|frame [--crc]
                                  [--max-frames 300] [--verbose] FILE...

Files are read with plain Python file reads and struct:
    uint64 length (LE) | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

FAIRNESS NOTE: by default CRCs are NOT verified.  A pure-Python CRC32C
runs at only a few MB/s (about 7 MB/s measured), which would dominate
everything else, so the default baseline skips it and is therefore *faster
than a fair comparison* with a reader that verifies every record (as the C
reader does).  --crc turns on verification with a pure-Python table
CRC32C.

Video level: Example -> id, labels, mean_rgb[1024] ++ mean_audio[128] as a
float32 array [1152].
Frame level: SequenceExample -> context id, labels; feature lists 'rgb'
(1024 B/frame) and 'audio' (128 B/frame); first --max-frames frames of each
list; uint8 -> float32 dequantize q*float32(4/255) + float32(4/512-2) (two
float32 roundings); concatenated to [n, 1152] (a shorter list is padded
with 0.0 rows after dequantizing).

A checksum (sum of all produced float values as float64, and the record
count) is accumulated so that no work can be skipped.  One summary line is
printed at the end:
    py_reader: level=L files=F bytes=B records=R seconds=S MB/s=X records/s=Y checksum=C
(bytes = total size of the files, MB = 1e6 bytes, seconds = wall time of
the read loop, time.perf_counter()).
"""

import argparse
import hashlib
import os
import struct
import sys
import time

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

# --------------------------------------------------------------------------
# tf.train.Example / SequenceExample, built at runtime
# --------------------------------------------------------------------------

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=_F.LABEL_OPTIONAL, type_name=None,
           packed=None, oneof_index=None):
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype
    f.label = label
    if type_name is not None:
        f.type_name = type_name
    if packed is not None:
        f.options.packed = packed
    if oneof_index is not None:
        f.oneof_index = oneof_index
    return f


def _map_entry(parent, entry_name, value_type_name):
    """map<string, V> spelled as a nested FeatureEntry{key=1; value=2}."""
    e = parent.nested_type.add()
    e.name = entry_name
    e.options.map_entry = True
    _field(e, "key", 1, _F.TYPE_STRING)
    _field(e, "value", 2, _F.TYPE_MESSAGE, type_name=value_type_name)
    return e


def _build_classes():
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "yt8m_bench/tf_example_runtime.proto"
    fdp.package = "tensorflow"
    fdp.syntax = "proto3"

    m = fdp.message_type.add()
    m.name = "BytesList"
    _field(m, "value", 1, _F.TYPE_BYTES, _F.LABEL_REPEATED)

    m = fdp.message_type.add()
    m.name = "FloatList"
    _field(m, "value", 1, _F.TYPE_FLOAT, _F.LABEL_REPEATED, packed=True)

    m = fdp.message_type.add()
    m.name = "Int64List"
    _field(m, "value", 1, _F.TYPE_INT64, _F.LABEL_REPEATED, packed=True)

    m = fdp.message_type.add()
    m.name = "Feature"
    m.oneof_decl.add().name = "kind"
    _field(m, "bytes_list", 1, _F.TYPE_MESSAGE,
           type_name=".tensorflow.BytesList", oneof_index=0)
    _field(m, "float_list", 2, _F.TYPE_MESSAGE,
           type_name=".tensorflow.FloatList", oneof_index=0)
    _field(m, "int64_list", 3, _F.TYPE_MESSAGE,
           type_name=".tensorflow.Int64List", oneof_index=0)

    m = fdp.message_type.add()
    m.name = "Features"
    _map_entry(m, "FeatureEntry", ".tensorflow.Feature")
    _field(m, "feature", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
           type_name=".tensorflow.Features.FeatureEntry")

    m = fdp.message_type.add()
    m.name = "FeatureList"
    _field(m, "feature", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
           type_name=".tensorflow.Feature")

    m = fdp.message_type.add()
    m.name = "FeatureLists"
    _map_entry(m, "FeatureListEntry", ".tensorflow.FeatureList")
    _field(m, "feature_list", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
           type_name=".tensorflow.FeatureLists.FeatureListEntry")

    m = fdp.message_type.add()
    m.name = "Example"
    _field(m, "features", 1, _F.TYPE_MESSAGE,
           type_name=".tensorflow.Features")

    m = fdp.message_type.add()
    m.name = "SequenceExample"
    _field(m, "context", 1, _F.TYPE_MESSAGE,
           type_name=".tensorflow.Features")
    _field(m, "feature_lists", 2, _F.TYPE_MESSAGE,
           type_name=".tensorflow.FeatureLists")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)

    def cls(name):
        desc = pool.FindMessageTypeByName("tensorflow." + name)
        if hasattr(message_factory, "GetMessageClass"):      # protobuf >= 4.22
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(pool).GetPrototype(desc)

    return cls("Example"), cls("SequenceExample")


Example, SequenceExample = _build_classes()

# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), pure Python table version; only used with --crc
# --------------------------------------------------------------------------


def _make_crc_table():
    table = []
    for i in range(256):
        c = i
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


assert crc32c(b"123456789") == 0xE3069283

# --------------------------------------------------------------------------
# TFRecord framing
# --------------------------------------------------------------------------

_HDR = struct.Struct("<QI")
_U32 = struct.Struct("<I")


class ReadError(Exception):
    pass


def tfrecords(path, check_crc):
    """Yield the data of each record of one TFRecord file."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while True:
            hdr = f.read(12)
            if not hdr:
                return
            if len(hdr) < 12:
                raise ReadError("%s: offset %d: truncated record header"
                                % (path, offset))
            length, length_crc = _HDR.unpack(hdr)
            if check_crc and masked_crc32c(hdr[:8]) != length_crc:
                raise ReadError("%s: offset %d: length CRC mismatch"
                                % (path, offset))
            if length > size - offset - 16:   # never allocate a bogus length
                raise ReadError("%s: offset %d: truncated record (length %d, "
                                "%d bytes left)" % (path, offset, length,
                                                    size - offset - 12))
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise ReadError("%s: offset %d: truncated record (length %d)"
                                % (path, offset, length))
            if check_crc and masked_crc32c(data) != _U32.unpack(tail)[0]:
                raise ReadError("%s: offset %d: data CRC mismatch"
                                % (path, offset))
            yield data
            offset += 16 + length

# --------------------------------------------------------------------------
# Record parsing
# --------------------------------------------------------------------------

DEQ_SCALE = np.float32(4.0 / 255.0)
DEQ_BIAS = np.float32(4.0 / 512.0 - 2.0)
RGB_DIM = 1024
AUDIO_DIM = 128


def _id_and_labels(features):
    fmap = features.feature
    if "id" not in fmap:
        raise ReadError("record without 'id'")
    if not fmap["id"].bytes_list.value:
        raise ReadError("record with an empty 'id'")
    vid = fmap["id"].bytes_list.value[0]
    labels = list(fmap["labels"].int64_list.value) if "labels" in fmap else []
    return vid, labels


def parse_video(data):
    ex = Example()
    ex.ParseFromString(data)
    fmap = ex.features.feature
    vid, labels = _id_and_labels(ex.features)
    rgb = np.array(fmap["mean_rgb"].float_list.value, dtype=np.float32)
    audio = np.array(fmap["mean_audio"].float_list.value, dtype=np.float32)
    if rgb.shape[0] != RGB_DIM or audio.shape[0] != AUDIO_DIM:
        raise ReadError("mean_rgb/mean_audio have %d/%d values, want 1024/128"
                        % (rgb.shape[0], audio.shape[0]))
    return vid, labels, np.concatenate([rgb, audio])


def _dequantize_list(flists, name, dim, max_frames):
    if name not in flists:
        raise ReadError("Feature list '%s' is required but could not be found"
                        % name)
    frames = flists[name].feature
    n = min(len(frames), max_frames)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    q = np.stack([np.frombuffer(frames[i].bytes_list.value[0], dtype=np.uint8)
                  for i in range(n)])
    if q.shape[1] != dim:
        raise ReadError("feature '%s' has %d bytes per frame, want %d"
                        % (name, q.shape[1], dim))
    # float32 multiply then float32 add: two roundings, as the reference.
    return q.astype(np.float32) * DEQ_SCALE + DEQ_BIAS


def parse_frame(data, max_frames):
    se = SequenceExample()
    se.ParseFromString(data)
    vid, labels = _id_and_labels(se.context)
    flists = se.feature_lists.feature_list
    rgb = _dequantize_list(flists, "rgb", RGB_DIM, max_frames)
    audio = _dequantize_list(flists, "audio", AUDIO_DIM, max_frames)
    n = max(rgb.shape[0], audio.shape[0])
    if rgb.shape[0] < n:   # counts differ: pad the shorter one with 0.0 rows
        rgb = np.concatenate([rgb, np.zeros((n - rgb.shape[0], RGB_DIM), np.float32)])
    if audio.shape[0] < n:
        audio = np.concatenate([audio, np.zeros((n - audio.shape[0], AUDIO_DIM), np.float32)])
    return vid, labels, np.concatenate([rgb, audio], axis=1)

# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Pure-Python (no TensorFlow) YouTube-8M TFRecord reader "
                    "baseline. CRCs are NOT verified unless --crc is given.")
    ap.add_argument("--level", choices=("video", "frame"), required=True)
    ap.add_argument("--crc", action="store_true",
                    help="verify record CRCs (pure-Python CRC32C; very slow)")
    ap.add_argument("--max-frames", type=int, default=300)
    ap.add_argument("--verbose", action="store_true",
                    help="print id, labels and feature sums of every record")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)

    total_bytes = sum(os.path.getsize(p) for p in args.files)
    records = 0
    checksum = 0.0
    video = args.level == "video"

    t0 = time.perf_counter()
    try:
        for path in args.files:
            for data in tfrecords(path, args.crc):
                if video:
                    vid, labels, x = parse_video(data)
                else:
                    vid, labels, x = parse_frame(data, args.max_frames)
                checksum += float(np.sum(x, dtype=np.float64))
                records += 1
                if args.verbose:
                    rgb = np.ascontiguousarray(x[..., :RGB_DIM])
                    audio = x[..., RGB_DIM:]
                    print("record %d id=%s labels=%s frames=%d rgb_sum=%.9g "
                          "audio_sum=%.9g rgb_sha256=%s"
                          % (records - 1, vid.decode("utf-8", "replace"), labels,
                             1 if video else x.shape[0],
                             np.sum(rgb, dtype=np.float64),
                             np.sum(audio, dtype=np.float64),
                             hashlib.sha256(rgb.astype("<f4").tobytes()).hexdigest()))
    except (ReadError, OSError) as e:
        print("py_reader: error: %s" % e, file=sys.stderr)
        return 1
    except (DecodeError, IndexError, ValueError) as e:
        print("py_reader: error: %s: record %d: bad record: %s"
              % (path, records, e), file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t0

    mbs = total_bytes / 1e6 / seconds if seconds > 0 else float("inf")
    rps = records / seconds if seconds > 0 else float("inf")
    print("py_reader: level=%s files=%d bytes=%d records=%d seconds=%.3f "
          "MB/s=%.1f records/s=%.1f checksum=%.6f"
          % (args.level, len(args.files), total_bytes, records, seconds,
             mbs, rps, checksum))
    return 0


if __name__ == "__main__":
    sys.exit(main())
