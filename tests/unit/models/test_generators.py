"""The training data generators: reproducible from a seed, every class drawable, boxes where the fish are."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training import gen_fish_scenes, gen_litter_tiles, gen_plankton
from training.nets import anchor_points
from training.preprocess import CLASSIFIER_STD, DETECTOR_SIZE, classifier_input, letterbox, tile_input
from training.train_detector import assign


def test_the_same_seed_gives_the_same_images() -> None:
    first = [classifier_input(gen_plankton.sample(np.random.default_rng(7))[0]) for _ in range(2)]
    assert np.array_equal(first[0], first[1])
    tiles = [tile_input(gen_litter_tiles.sample(np.random.default_rng(7))[0]) for _ in range(2)]
    assert np.array_equal(tiles[0], tiles[1])
    scenes = [gen_fish_scenes.render(np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(np.asarray(scenes[0].image), np.asarray(scenes[1].image))
    assert np.array_equal(scenes[0].boxes, scenes[1].boxes)


@pytest.mark.parametrize("label", gen_plankton.CLASSES)
def test_every_plankton_class_draws_a_visible_object_in_the_real_size_range(label: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        image = gen_plankton.render(label, rng)
        assert 8 <= max(image.size) <= 900
        x = classifier_input(image)
        # The object stands out of the background: at least ~25 grey levels (0.1 of the range) after
        # preprocessing, however faint, thin or small it was drawn.
        assert (x.max() - x.min()) * CLASSIFIER_STD[0] > 0.1


@pytest.mark.parametrize("label", gen_litter_tiles.CLASSES)
def test_every_tile_class_renders_near_the_tile_size(label: str) -> None:
    rng = np.random.default_rng(4)
    for _ in range(5):
        tile = gen_litter_tiles.render(label, rng)
        assert 40 <= max(tile.size) <= 150
        assert tile_input(tile).shape == (3, 64, 64)


def test_fish_boxes_lie_in_the_image_and_enclose_the_drawn_fish() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        scene = gen_fish_scenes.render(rng)
        width, height = scene.image.size
        assert len(scene.boxes) == len(scene.labels)
        assert ((scene.boxes[:, 0] >= 0) & (scene.boxes[:, 2] <= width)).all()
        assert ((scene.boxes[:, 1] >= 0) & (scene.boxes[:, 3] <= height)).all()
        assert ((scene.boxes[:, 2] > scene.boxes[:, 0]) & (scene.boxes[:, 3] > scene.boxes[:, 1])).all()
        assert set(scene.labels.tolist()) <= set(range(len(gen_fish_scenes.CLASSES)))


def test_every_ground_truth_box_gets_positive_anchors_on_one_level() -> None:
    points, strides = anchor_points(DETECTOR_SIZE)
    rng = np.random.default_rng(6)
    for _ in range(20):
        scene = gen_fish_scenes.render(rng)
        _, geometry = letterbox(scene.image)
        boxes = torch.from_numpy(geometry.to_input(scene.boxes))
        assigned, foreground = assign(boxes, points, strides)
        assert set(assigned[foreground].tolist()) == set(range(len(boxes)))
        for index in range(len(boxes)):
            assert len(set(strides[assigned == index].tolist())) == 1  # one pyramid level per box
    _, nothing = assign(torch.zeros((0, 4)), points, strides)
    assert not nothing.any()
