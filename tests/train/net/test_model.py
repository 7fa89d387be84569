"""The model against references: the report's layers and shapes, torch's own layers, the LRN formula."""
import pytest
import torch
from torch import nn

from alexlib.train.net.model import (
    NORM_SLOTS,
    AlexNet,
    LocalResponseNorm,
    count_params,
    lrn_layers,
    make_norm,
    norm_layers,
)

REPORT_CHANNELS = [96, 256, 384, 384, 256]
REPORT_LN_SHAPES = [(96, 27, 27), (256, 13, 13), (384, 13, 13), (384, 13, 13), (256, 6, 6)]
PARAMS_224 = {"none": 58_322_314, "bn": 58_325_066, "ln": 58_826_826, "gn": 58_325_066, "lrn": 58_322_314}


@pytest.fixture(scope="module")
def models_224():
    torch.manual_seed(0)
    return {n: AlexNet(n) for n in PARAMS_224}


def test_parameter_counts_at_224(models_224):
    assert {n: count_params(m) for n, m in models_224.items()} == PARAMS_224


def test_norm_layers_are_the_reports_torch_layers(models_224):
    bn = norm_layers(models_224["bn"])
    assert all(type(l) is nn.BatchNorm2d for l in bn)
    assert [l.num_features for l in bn] == REPORT_CHANNELS
    ln = norm_layers(models_224["ln"])
    assert all(type(l) is nn.LayerNorm for l in ln)
    assert [tuple(l.normalized_shape) for l in ln] == REPORT_LN_SHAPES
    gn = norm_layers(models_224["gn"])
    assert all(type(l) is nn.GroupNorm and l.num_groups == 4 for l in gn)
    assert [l.num_channels for l in gn] == REPORT_CHANNELS
    assert all(type(l) is nn.Identity for l in norm_layers(models_224["none"]) + lrn_layers(models_224["none"]))
    assert all(type(l) is nn.Identity for l in norm_layers(models_224["lrn"]))
    assert all(type(l) is LocalResponseNorm and l.size == 5 for l in lrn_layers(models_224["lrn"]))
    for n in ("bn", "ln", "gn"):
        assert all(type(l) is nn.Identity for l in lrn_layers(models_224[n]))


def test_lrn_sits_where_the_2012_paper_puts_it(models_224):
    # "Response-normalization layers follow the first and second convolutional layers. Max-pooling
    # layers ... follow both response-normalization layers" (Krizhevsky et al. 2012, 3.5)
    kinds = [type(m).__name__ for m in models_224["lrn"].features]
    assert kinds.count("LocalResponseNorm") == 2
    for i in (i for i, k in enumerate(kinds) if k == "LocalResponseNorm"):
        assert kinds[i - 1] == "ReLU" and kinds[i - 2] == "Conv2d" and kinds[i + 1] == "MaxPool2d"
    assert [i for i, k in enumerate(kinds) if k == "Conv2d"].index(kinds.index("LocalResponseNorm") - 2) == 0


def test_norms_sit_after_pool_in_stages_1_2_5_and_after_relu_in_3_4(models_224):
    f = models_224["bn"].features
    kinds = [type(m).__name__ for m in f]
    assert [i for i, k in enumerate(kinds) if k == "BatchNorm2d"] == list(NORM_SLOTS)
    for i in (NORM_SLOTS[0], NORM_SLOTS[1], NORM_SLOTS[4]):
        assert kinds[i - 1] == "MaxPool2d"
    for i in (NORM_SLOTS[2], NORM_SLOTS[3]):
        assert kinds[i - 1] == "ReLU"


def test_each_stage_feeds_its_norm_the_shape_the_report_gives(models_224):
    shapes = []
    hooks = [l.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for l in norm_layers(models_224["ln"])]
    models_224["ln"].eval()(torch.randn(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert shapes == REPORT_LN_SHAPES


@pytest.mark.parametrize("norm", list(PARAMS_224))
@pytest.mark.parametrize("size", [224, 63])
def test_output_shape(norm, size, models_224):
    model = models_224[norm] if size == 224 else AlexNet(norm, image_size=size, width=0.25)
    out = model.eval()(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_layernorm_matches_its_formula():
    x = torch.randn(3, 96, 27, 27) * 3 + 1
    ln = make_norm("ln", 96, 27)
    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    torch.testing.assert_close(ln(x), (x - mu) / torch.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)


def test_groupnorm_matches_its_formula():
    x = torch.randn(2, 96, 5, 5) * 2 - 1
    gn = make_norm("gn", 96, 5, gn_groups=4)
    g = x.reshape(2, 4, 24, 5, 5)
    ref = (g - g.mean(dim=(2, 3, 4), keepdim=True)) / torch.sqrt(g.var(dim=(2, 3, 4), unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(gn(x), ref.reshape_as(x), rtol=1e-4, atol=1e-4)


def test_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="none, bn, ln, gn, lrn"):
        make_norm("in", 8, 4)


@pytest.mark.parametrize("norm", ["none", "bn", "ln", "gn", "lrn"])
def test_the_weight_layers_are_named_by_stage(norm):
    """conv1..conv5 and fc6..fc8, the per-layer signals' names (alexlib.train.net.signals), at their places in the
    network whatever the norm."""
    from alexlib.train.net.model import weight_layers
    m = AlexNet(norm, image_size=63, width=0.125)
    f, c = m.features, m.classifier
    assert weight_layers(m) == list(zip(("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"),
                                        (f[0], f[5], f[10], f[13], f[16], c[1], c[4], c[6])))
