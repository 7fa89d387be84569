"""The norms' registry: every norm has its names, its colour and its places; the model builds each norm where
the registry puts it, so a new norm is an entry, not a branch; a bad name lists the choices."""
import pytest
import torch
from torch import nn

from alexlib.train.net import norms
from alexlib.train.net.model import AlexNet, make_norm
from alexlib.train.net.shapes import place_shapes


def test_every_norm_has_names_a_colour_of_its_own_and_known_places():
    assert norms.NORMS == ("none", "bn", "ln", "gn", "lrn", "bn_gn5", "bn_pre5")
    assert set(norms.NORM_NAMES) == set(norms.SHORT_NAMES) == set(norms.NORM_COLORS) == set(norms.NORMS)
    assert len(set(norms.NORM_COLORS.values())) == len(norms.NORMS)
    assert norms.NORMED == ("bn", "ln", "gn") and norms.EXTRAS == ("lrn",) and norms.ARMS == ("bn_gn5", "bn_pre5")
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


def _layers(m):
    return [(i, type(x).__name__) for i, x in enumerate(m.features) if not isinstance(x, nn.Identity)]


def test_each_arm_of_bn_changes_one_thing_its_fifth_norms_kind_or_its_place():
    """bn_gn5: BN's network with GroupNorm at the fifth stage; bn_pre5: BN's network with the fifth norm moved
    before the last max-pool, where its map is 3x3 at 63 px (1x1 after it). Everything else is BN's: the same
    layers at the same indices, the same parameter shapes into fc6, and the same initial weights for one seed."""
    torch.manual_seed(0)
    bn = AlexNet("bn", image_size=63, width=0.125)
    arms = {}
    for key in norms.ARMS:
        torch.manual_seed(0)
        arms[key] = AlexNet(key, image_size=63, width=0.125)
    base = _layers(bn)
    gn5 = _layers(arms["bn_gn5"])
    assert [b for b, g in zip(base, gn5) if b != g] == [(20, "BatchNorm2d")] and gn5[-1] == (20, "GroupNorm")
    pre5 = _layers(arms["bn_pre5"])
    assert set(base) ^ set(pre5) == {(20, "BatchNorm2d"), (18, "BatchNorm2d")}
    seen = []
    arms["bn_pre5"].features[18].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:])))
    arms["bn_pre5"](torch.randn(2, 3, 63, 63))
    assert seen == [(place_shapes(63, 0.125)["conv5"][0], 3, 3)] and place_shapes(63, 0.125)["conv5"][1] == 1
    for m in arms.values():
        assert m.classifier[1].weight.shape == bn.classifier[1].weight.shape
        convs = [(a, b) for a, b in zip(bn.parameters(), m.parameters()) if a.dim() > 1]
        assert len(convs) == 8 and all(torch.equal(a, b) for a, b in convs)


def test_an_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="choose one of none, bn, ln, gn, lrn, bn_gn5, bn_pre5"):
        make_norm("in", 8, 4)
    with pytest.raises(ValueError, match="unknown norm 'xx'"):
        AlexNet("xx")
