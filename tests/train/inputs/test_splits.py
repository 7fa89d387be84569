"""What a loader returns and where it came from: md5 of the files read, computed once per file."""
import hashlib

from alexlib.train.inputs import splits as S


def hashlib_md5(p):
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_md5_is_hashed_once_per_file_and_again_when_the_file_changes(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"a" * 1000)
    S.md5(p)
    before = S._digest_cached.cache_info()
    assert S.md5(p) == hashlib_md5(p)
    after = S._digest_cached.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)  # not read again
    p.write_bytes(b"b" * 999)  # replaced: another size
    assert S.md5(p) == hashlib_md5(p) and S._digest_cached.cache_info().misses == before.misses + 1
