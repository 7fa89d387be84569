"""The norms' registry: every norm has its names, its colour and its places; the model builds each norm where
the registry puts it, so a new norm is an entry, not a branch; a bad name lists the choices."""
import pytest
import torch
from torch import nn

from alexlib.train.net import norms
from alexlib.train.net.model import AlexNet, make_norm
from alexlib.train.net.shapes import place_shapes


def test_every_norm_has_names_a_colour_of_its_own_and_known_places():
    assert norms.NORMS == ("none", "bn", "ln", "gn", "lrn")
    assert set(norms.NORM_NAMES) == set(norms.SHORT_NAMES) == set(norms.NORM_COLORS) == set(norms.NORMS)
    assert len(set(norms.NORM_COLORS.values())) == len(norms.NORMS)
    assert norms.NORMED == ("bn", "ln", "gn") and norms.EXTRAS == ("lrn",)
    for n in norms.REGISTRY.values():
        assert set(n.places) <= set(norms.PLACES) and (n.build is None) == (not n.places), n.key


def test_the_places_shapes_follow_the_input_size():
    s = place_shapes(224)
    assert s["relu1"] == (96, 55) and s["relu2"] == (256, 27)
    assert [s[p] for p in norms.CONVS] == [(96, 27), (256, 13), (384, 13), (384, 13), (256, 6)]
    assert place_shapes(63, 0.25)["conv5"] == (64, 1)


def test_a_new_norm_is_an_entry_the_model_builds_where_it_says(monkeypatch):
    """InstanceNorm after stages 2 and 3 only: one registry entry, no change to the model."""
    def build(c, side, groups):
        return nn.InstanceNorm2d(c, affine=True)
    entry = norms.Norm("in", "IN", "InstanceNorm", "#000001", ("conv2", "conv3"), build, "Ulyanov et al. 2016")
    monkeypatch.setitem(norms.REGISTRY, "in", entry)
    m = AlexNet("in", image_size=63, width=0.25)
    kinds = [type(x).__name__ for x in m.features]
    assert kinds.count("InstanceNorm2d") == 2
    assert m(torch.randn(2, 3, 63, 63)).shape == (2, 10)
    assert [x.num_features for x in m.features if isinstance(x, nn.InstanceNorm2d)] == [
        place_shapes(63, 0.25)["conv2"][0], place_shapes(63, 0.25)["conv3"][0]]


def test_an_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="choose one of none, bn, ln, gn, lrn"):
        make_norm("in", 8, 4)
    with pytest.raises(ValueError, match="unknown norm 'xx'"):
        AlexNet("xx")
