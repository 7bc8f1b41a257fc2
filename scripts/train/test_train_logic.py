#!/usr/bin/env python3
"""Checks of train.py's torch-free logic (batching, padding, hub names, sharding, config text, LR schedule).
Runs with python3 + numpy only: `python3 scripts/train/test_train_logic.py` (npm test runs it when numpy exists)."""
import json
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402


class Batching(unittest.TestCase):
    def test_batches_cover_every_document_once_within_budget(self):
        rng = np.random.default_rng(0)
        lengths = [int(x) for x in rng.integers(50, 900, size=500)]
        batches = train.make_batches(lengths, 8192, np.random.default_rng(1))
        flat = sorted(i for b in batches for i in b)
        self.assertEqual(flat, list(range(500)))
        for b in batches:
            self.assertLessEqual(max(lengths[i] for i in b) * len(b), max(8192, max(lengths[i] for i in b)))

    def test_padding_is_right_and_masked(self):
        docs = [(np.array([5, 6, 7]), np.array([0, 1, 0], np.float32)), (np.array([9]), np.array([0], np.float32))]
        ids, mask = train.pad_batch(docs, [0, 1])
        self.assertEqual(ids.tolist(), [[5, 6, 7], [9, 0, 0]])
        self.assertEqual(mask.tolist(), [[0, 1, 0], [0, 0, 0]])


class Checkpoint(unittest.TestCase):
    def test_hub_names_and_expert_split(self):
        state = {
            "model.embeddings.weight": np.zeros((4, 2)),
            "model.layers.1.mixer.experts.up_proj": np.arange(3 * 2 * 2).reshape(3, 2, 2),
            "model.layers.1.mixer.gate.e_score_correction_bias": np.zeros(3),
            "lm_head.weight": np.zeros((4, 2)),
        }
        hub = train.hub_state(state)
        self.assertIn("backbone.embeddings.weight", hub)
        self.assertIn("lm_head.weight", hub)
        self.assertIn("backbone.layers.1.mixer.gate.e_score_correction_bias", hub)
        for e in range(3):
            np.testing.assert_array_equal(hub[f"backbone.layers.1.mixer.experts.{e}.up_proj.weight"], state["model.layers.1.mixer.experts.up_proj"][e])

    def test_shards_respect_the_limit(self):
        plan = train.shard_plan([("a", 6), ("b", 6), ("c", 3), ("d", 20), ("e", 1)], 10)
        self.assertEqual(plan, [["a"], ["b", "c"], ["d"], ["e"]])

    def test_config_has_bare_infinity_and_the_pattern(self):
        text = train.config_text(train.config_dict(train.ARCH, 4096))
        self.assertIn("Infinity", text)
        d = json.loads(text)  # Python's json accepts the bare Infinity token
        self.assertEqual(d["time_step_limit"], [0.0, float("inf")])
        self.assertEqual(d["hybrid_override_pattern"], train.ARCH["pattern"])
        self.assertEqual(set(d["hybrid_override_pattern"]), {"M", "E", "*"})
        self.assertGreaterEqual(d["n_routed_experts"], 8)
        self.assertGreaterEqual(d["num_experts_per_tok"], 2)
        self.assertEqual(train.GENERATION_CONFIG["eos_token_id"], [2, 11])


class Schedule(unittest.TestCase):
    def test_warmup_constant_decay(self):
        self.assertAlmostEqual(train.lr_at(0.0, 0, 1.0, 10), 0.1)
        self.assertAlmostEqual(train.lr_at(0.5, 100, 1.0, 10), 1.0)
        self.assertAlmostEqual(train.lr_at(0.85, 100, 1.0, 10), 0.5)
        self.assertAlmostEqual(train.lr_at(1.0, 100, 1.0, 10), 0.05)


if __name__ == "__main__":
    unittest.main(verbosity=1)
