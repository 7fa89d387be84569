"""The network's sizes as arithmetic: each stage's side follows the report's shapes at 224 px, and narrower
networks keep GroupNorm's four groups dividing every stage."""
import pytest

from alexlib.train.net.model import AlexNet, count_params, norm_layers
from alexlib.train.net.shapes import hidden_units, stage_channels, stage_sizes


def test_stage_sizes_follow_the_report():
    assert stage_sizes(224) == (27, 13, 13, 13, 6)
    assert stage_sizes(63) == (7, 3, 3, 3, 1)
    with pytest.raises(ValueError, match="too small"):
        stage_sizes(62)


def test_width_shrinks_and_keeps_groupnorm_divisible():
    m = AlexNet("gn", image_size=63, width=0.25)
    assert [l.num_channels % 4 for l in norm_layers(m)] == [0] * 5
    assert count_params(m) < count_params(AlexNet("gn", image_size=63)) / 10


def test_the_report_network_is_width_one():
    assert stage_channels(1.0) == (96, 256, 384, 384, 256) and hidden_units(1.0) == 4096
    assert stage_channels(0.125) == (16, 32, 48, 48, 32) and hidden_units(0.125) == 512
