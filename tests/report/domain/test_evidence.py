"""The evidence the claims read (alexlib.report.domain.evidence): one name per quantity, and the evidence at a
source's batch sizes."""
from alexlib.report.domain.evidence import Evidence, batch_key, pair_key


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
