"""What n seeds can show, checked by simulation: the seeds the power function asks for give about its power."""
import numpy as np

from alexlib.report.inference import power as PW
from alexlib.report.inference import stats as ST


def test_seeds_needed_give_about_the_stated_power():
    """Simulated: with the number of seeds the power function asks for, a 2-point paired difference of sd
    2.5 is shown in about 80 % of studies."""
    sd, delta = 2.5, 2.0
    n = PW.seeds_needed(sd, delta)
    assert 10 <= n <= 16
    assert PW.detectable(sd, n) <= delta < PW.detectable(sd, n - 1)
    rng = np.random.default_rng(12)
    hits = sum(ST.paired_by_batch({8: dict(enumerate(rng.normal(delta, sd, n)))},
                                  {8: dict(enumerate(np.zeros(n)))})[8].p < 0.05 for _ in range(600))
    assert 0.72 < hits / 600 < 0.9
