"""tfevents_check.py: reads an event file written by `test_formats --write-events` with
Python's protobuf (Event/Summary descriptors built at run time: no protoc, no TensorFlow),
verifies every TFRecord CRC in pure Python and checks the records against what
test_formats.c wrote (keep the two in step). Exit 0 = good, 1 = a mismatch (printed)."""
import os
import re
import socket
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

F = descriptor_pb2.FieldDescriptorProto


def build_classes():
    fdp = descriptor_pb2.FileDescriptorProto(name="yt_event_check.proto", package="ytcheck", syntax="proto3")

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    value = fdp.message_type.add(name="Value")  # tensorflow.Summary.Value, flattened
    value.oneof_decl.add(name="value")
    field(value, "tag", 1, F.TYPE_STRING)
    field(value, "simple_value", 2, F.TYPE_FLOAT, oneof=0)
    summary = fdp.message_type.add(name="Summary")
    field(summary, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".ytcheck.Value")
    event = fdp.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    field(event, "wall_time", 1, F.TYPE_DOUBLE)
    field(event, "step", 2, F.TYPE_INT64)
    field(event, "file_version", 3, F.TYPE_STRING, oneof=0)
    field(event, "summary", 5, F.TYPE_MESSAGE, type_name=".ytcheck.Summary", oneof=0)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("ytcheck.Event")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def crc32c(data):
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ table[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


crc32c.table = None


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    raw = open(path, "rb").read()
    off = 0
    while off < len(raw):
        if len(raw) - off < 12:
            raise ValueError("truncated header at byte %d" % off)
        (n,) = struct.unpack_from("<Q", raw, off)
        (lc,) = struct.unpack_from("<I", raw, off + 8)
        if lc != masked(raw[off : off + 8]):
            raise ValueError("length crc mismatch at byte %d" % off)
        data = raw[off + 12 : off + 12 + n]
        if len(data) != n or len(raw) < off + 16 + n:
            raise ValueError("truncated record at byte %d" % off)
        (dc,) = struct.unpack_from("<I", raw, off + 12 + n)
        if dc != masked(data):
            raise ValueError("data crc mismatch at byte %d" % off)
        yield data
        off += 16 + n


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# (wall_time, step, [(tag, value)]), as write_events() in test_formats.c writes them.
EXPECTED = [
    (1700000001.0, 100, [("train/loss", 0.5)]),
    (1700000002.5, 200, [("model/Training_Hit@1", 0.25), ("model/Training_GAP", 0.125), ("learning_rate", 0.01)]),
    (1700000003.0, 0, [("zero/value", 0.0)]),
    (1700000004.25, 1099511627776, [("big/step", -3.5)]),
    (1700000005.0, 2, [("unicode/\u00e9", 1e-3)]),
]


def main():
    path = sys.argv[1]
    fails = []
    name = os.path.basename(path)
    m = re.fullmatch(r"events\.out\.tfevents\.(\d{10})\.(.+)", name)
    if not m:
        fails.append("file name %r is not events.out.tfevents.<10 digits>.<host>" % name)
    else:
        if m.group(1) != "1700000000":
            fails.append("file name seconds %s, expected 1700000000" % m.group(1))
        if m.group(2) != socket.gethostname():
            fails.append("file name host %r, expected %r" % (m.group(2), socket.gethostname()))
    Event = build_classes()
    evs = []
    try:
        for data in records(path):
            ev = Event()
            ev.ParseFromString(data)
            if ev.SerializeToString() != data:
                fails.append("record %d does not re-serialize to the same bytes" % len(evs))
            evs.append(ev)
    except (ValueError, DecodeError) as e:  # framing or CRC (records()), or bad protobuf
        fails.append("%s: %s" % (path, e))
    if len(evs) != 1 + len(EXPECTED):
        fails.append("%d records, expected %d" % (len(evs), 1 + len(EXPECTED)))
    if evs:
        first = evs[0]
        if first.WhichOneof("what") != "file_version" or first.file_version != "brain.Event:2":
            fails.append("first record is not file_version brain.Event:2: %s" % first)
        if first.wall_time != 1700000000.0:
            fails.append("first record wall_time %r" % first.wall_time)
    for i, (ev, (wt, step, vals)) in enumerate(zip(evs[1:], EXPECTED), 1):
        if ev.wall_time != wt:
            fails.append("record %d: wall_time %r, expected %r" % (i, ev.wall_time, wt))
        if ev.step != step:
            fails.append("record %d: step %d, expected %d" % (i, ev.step, step))
        if ev.WhichOneof("what") != "summary":
            fails.append("record %d: no summary" % i)
            continue
        got = [(v.tag, v.simple_value, v.WhichOneof("value")) for v in ev.summary.value]
        want = [(t, f32(x), "simple_value") for t, x in vals]
        if got != want:
            fails.append("record %d: values %r, expected %r" % (i, got, want))
    for f in fails:
        print("FAILED: " + f)
    print("tfevents_check: %d records, %d failures" % (len(evs), len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
