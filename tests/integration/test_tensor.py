# test_tensor.py - tensor attachments through the real broker
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Attachments and tensors against the real agentbusd (protocol section
8).  blob.tensor: x is float32 [null, 4] (required), y is int64 or uint8
[null]; producer -> sink."""

import json

import numpy

import abtest


def ref(dtype, shape, frame):
    return {"dtype": dtype, "shape": shape, "frame": frame}


class Tensor(abtest.BrokerTestCase):

    def setUp(self):
        super().setUp()
        self.p = self.agent("producer")
        self.s = self.agent("sink")

    def test_float32_byte_identical(self):
        rng = numpy.random.default_rng(7)
        x = rng.standard_normal((256, 4)).astype(numpy.float32)
        x[0, 0] = numpy.nan
        x[1, 1] = -0.0
        self.p.publish("blob.tensor", {"x": x, "label": "grad"})
        d = self.expect(self.s)
        self.assertEqual(d.payload["x"], ref("float32", [256, 4], 0))
        self.assertEqual(len(d.attachments), 1)
        self.assertEqual(bytes(d.attachments[0]), x.tobytes())
        got = d.tensor("x")
        self.assertEqual(got.dtype, numpy.float32)
        self.assertEqual(got.shape, (256, 4))
        self.assertEqual(got.tobytes(), x.tobytes())
        d.ack()

    def test_two_tensors_and_non_contiguous_input(self):
        x = numpy.arange(32, dtype=numpy.float32).reshape(4, 8)[:, ::2]
        y = numpy.arange(5, dtype=numpy.int64)
        self.p.publish("blob.tensor", {"x": x, "y": y})
        d = self.expect(self.s)
        self.assertEqual(d.payload["x"], ref("float32", [4, 4], 0))
        self.assertEqual(d.payload["y"], ref("int64", [5], 1))
        numpy.testing.assert_array_equal(d.tensor("x"), x)
        numpy.testing.assert_array_equal(d.tensor("y"), y)

    def test_empty_leading_dimension(self):
        x = numpy.zeros((0, 4), dtype=numpy.float32)
        self.p.publish("blob.tensor", {"x": x})
        d = self.expect(self.s)
        self.assertEqual(d.tensor("x").shape, (0, 4))

    def test_large_tensor(self):
        x = numpy.random.default_rng(1).random((1 << 18, 4),
                                               dtype=numpy.float32)
        self.p.publish("blob.tensor", {"x": x})  # 4 MiB
        d = self.expect(self.s, 5000)
        self.assertEqual(bytes(d.attachments[0]), x.tobytes())

    def test_missing_frame_is_malformed(self):
        self.assertRejected("malformed", self.p.publish, "blob.tensor",
                            {"x": ref("float32", [1, 4], 1)},
                            attachments=[bytes(16)])

    def test_no_frame_at_all_is_malformed(self):
        self.assertRejected("malformed", self.p.publish, "blob.tensor",
                            {"x": ref("float32", [1, 4], 0)})

    def test_unreferenced_attachment_is_malformed(self):
        x = numpy.zeros((1, 4), dtype=numpy.float32)
        self.assertRejected("malformed", self.p.publish, "blob.tensor",
                            {"x": x}, attachments=[b"stray"])
        self.assertNoDelivery(self.s)

    def test_frame_referenced_twice_is_malformed(self):
        self.assertRejected("malformed", self.p.publish, "blob.tensor",
                            {"x": ref("float32", [1, 4], 0),
                             "y": ref("uint8", [16], 0)},
                            attachments=[bytes(16)])

    def test_length_disagrees_with_own_shape_is_malformed(self):
        self.assertRejected("malformed", self.p.publish, "blob.tensor",
                            {"x": ref("float32", [2, 4], 0)},
                            attachments=[bytes(31)])

    def test_dtype_not_allowed_is_invalid(self):
        x = numpy.zeros((2, 4), dtype=numpy.float64)
        self.assertRejected("invalid", self.p.publish, "blob.tensor",
                            {"x": x})

    def test_shape_not_allowed_is_invalid(self):
        x = numpy.zeros((2, 5), dtype=numpy.float32)
        e = self.assertRejected("invalid", self.p.publish, "blob.tensor",
                                {"x": x})
        self.assertIn("/x", [err.get("path") for err in e.errors])

    def test_dtype_list(self):
        for dtype in (numpy.int64, numpy.uint8):
            y = numpy.arange(3, dtype=dtype)
            x = numpy.ones((1, 4), dtype=numpy.float32)
            self.p.publish("blob.tensor", {"x": x, "y": y})
            d = self.expect(self.s)
            numpy.testing.assert_array_equal(d.tensor("y"), y)
            d.ack()
        self.assertRejected("invalid", self.p.publish, "blob.tensor",
                            {"x": numpy.ones((1, 4), numpy.float32),
                             "y": numpy.arange(3, dtype=numpy.int32)})

    def test_dead_letter_keeps_attachments(self):
        # section 5: the dead letter carries the original frames 3...
        g = self.agent("graveyard")
        x = numpy.arange(8, dtype=numpy.float32).reshape(2, 4)
        self.p.publish("blob.tensor", {"x": x, "label": "dl"})
        self.expect(self.s).nack(requeue=False)
        d = self.expect(g)
        self.assertEqual((d.type, d.reason), ("agentbus.dead_letter",
                                              "rejected"))
        self.assertEqual(d.payload["label"], "dl")
        numpy.testing.assert_array_equal(d.tensor("x"), x)

    def test_forwarded_without_copying(self):
        # section 8; docs/protocol.md: the broker logs its counters at
        # shutdown, attachment_bytes_copied counts attachment bytes whose
        # outgoing frame did not share the received buffer
        x = numpy.ones((1024, 4), dtype=numpy.float32)  # 16 KiB
        fa = self.agent("graveyard")
        self.p.publish("blob.tensor", {"x": x})
        d = self.expect(self.s)
        self.assertEqual(bytes(d.attachments[0]), x.tobytes())
        d.nack(requeue=False)  # and once more through the dead letter
        self.expect(fa).ack()
        self.assertEqual(self.broker.stop(), 0)
        counters = None
        for line in self.broker.stderr(1 << 20).splitlines():
            if "counters: " in line:
                counters = json.loads(line.split("counters: ", 1)[1])
        self.assertIsNotNone(counters, "no counters line at shutdown")
        self.assertGreaterEqual(counters["attachment_bytes"], 2 * x.nbytes)
        self.assertEqual(counters["attachment_bytes_copied"], 0)



class TensorRetry(abtest.BrokerTestCase):

    edges = {("sink", "blob.tensor"): {"ack_timeout_ms": 200}}

    def setUp(self):
        super().setUp()
        self.p = self.agent("producer")
        self.s = self.agent("sink")

    def test_retry_keeps_attachments(self):
        # blob.tensor's ack timeout is 200 ms here: the copy comes back
        x = numpy.full((3, 4), 2.5, dtype=numpy.float32)
        self.p.publish("blob.tensor", {"x": x})
        d1 = self.expect(self.s)
        d2 = self.expect(self.s)
        self.assertEqual(d2.attempt, 2)
        self.assertEqual(bytes(d2.attachments[0]), x.tobytes())
        self.assertEqual(bytes(d1.attachments[0]), x.tobytes())


if __name__ == "__main__":
    abtest.main()
