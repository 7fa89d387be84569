"""The evidence the claims read (alexlib.report.domain.evidence): one name per quantity, and the evidence at a
source's batch sizes."""
from alexlib.report.domain.evidence import Evidence, batch_key, norm_mean, pair_key


def test_a_quantity_has_one_name_whichever_way_it_is_asked():
    assert pair_key("fixed", 8, "gn", "bn") == ("pair:fixed:8:bn-gn", -1)
    assert pair_key("fixed", 8, "bn", "gn") == ("pair:fixed:8:bn-gn", 1)
    assert batch_key("fixed", "bn", 2, 64) == ("batch:fixed:bn:64-2", -1)


def test_evidence_restricted_to_a_sources_batch_sizes_keeps_only_those():
    ev = Evidence(final={"bn": {2: {0: 10.0}, 8: {0: 80.0}}, "gn": {2: {0: 70.0}}}, first={},
                  diverged={"none": {4: [1]}})
    r = ev.restrict((8, 16, 32, 64))
    assert r.final == {"bn": {8: {0: 80.0}}} and r.diverged == {}
    assert ev.restrict(None) is ev


def test_a_mean_over_batch_sizes_is_one_quantity_or_none():
    """A second stage that grew BN at every batch size but no norm at batch 64 only: the mean over batch sizes
    would be the batch-64 difference alone, another quantity than the first stage's; so that stage has no test of
    it (and the two looks are never combined across two quantities). With every batch size shared, it is tested."""
    seeds = {s: 80.0 + s / 10 for s in (3, 4, 5)}
    stage2 = Evidence(final={"bn": {8: dict(seeds), 64: dict(seeds)}, "none": {64: {s: 60.0 + s / 7 for s in (3, 4, 5)}}},
                      first={})
    assert norm_mean(stage2, "bn", "none", first=False) is None
    both = Evidence(final={"bn": {8: dict(seeds), 64: dict(seeds)},
                           "none": {bs: {s: 60.0 + s / 7 + bs / 100 for s in (3, 4, 5)} for bs in (8, 64)}}, first={})
    t = norm_mean(both, "bn", "none", first=False)
    assert t is not None and abs(t.diff - (20.0 + 0.4 - 4 / 7 - 0.36)) < 1e-9
