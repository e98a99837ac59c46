"""The scan pass and the stability rule, on real trees in tmp."""

import os

from postflow.testing.clock import ManualClock
from services.watcher.scanner import ADDED, MODIFIED, REMOVED, PathFilter, Scanner
from services.watcher.stability import is_stable, settle_stable

DEFAULT_EXCLUDE = (".*", "*.tmp", "*.part", "~*")


def scanner_for(root, include=("*",), exclude=DEFAULT_EXCLUDE):
    clock = ManualClock(1000.0)
    return Scanner(root, PathFilter(include, exclude), clock), clock


def write(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def paths(scanner):
    return sorted(f.path for d, s in scanner.dirs.items() for f in s.files(d))


def test_filter_hides_hidden_and_temp_files_and_directories(tmp_path):
    for rel in ("a.mov", "SQ01/SH010/b.mov", ".hidden.mov", ".cache/c.mov", "d.mov.tmp", "e.part", "~lock.mov",
                "SQ01/.trash/f.mov", "notes.txt"):
        write(tmp_path / rel)
    scanner, _ = scanner_for(tmp_path, include=("*.mov",))
    scanner.scan()
    assert paths(scanner) == ["SQ01/SH010/b.mov", "a.mov"]


def test_include_is_case_insensitive_and_may_name_a_path(tmp_path):
    for rel in ("A.MOV", "renders/x.exr", "other/y.exr"):
        write(tmp_path / rel)
    scanner, _ = scanner_for(tmp_path, include=("*.mov", "renders/*.exr"))
    scanner.scan()
    assert paths(scanner) == ["A.MOV", "renders/x.exr"]


def test_unicode_spaces_and_deep_trees(tmp_path):
    deep = tmp_path.joinpath(*[f"niveau {i}" for i in range(40)])
    write(deep / "plan séquence 01 — étalonné.mov")
    write(tmp_path / "日本語 ファイル.mov")
    scanner, _ = scanner_for(tmp_path)
    scanner.scan()
    found = paths(scanner)
    assert "日本語 ファイル.mov" in found
    assert any(p.endswith("niveau 39/plan séquence 01 — étalonné.mov") and p.count("/") == 40 for p in found)


def test_symlinks_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write(outside / "secret.mov")
    root = tmp_path / "root"
    write(root / "real.mov")
    os.symlink(outside, root / "linked-dir")
    os.symlink(outside / "secret.mov", root / "linked.mov")
    scanner, _ = scanner_for(root)
    scanner.scan()
    assert paths(scanner) == ["real.mov"]


def test_changes_added_modified_removed_and_vanished_directories(tmp_path):
    write(tmp_path / "keep.mov", b"1")
    write(tmp_path / "grow.mov", b"1")
    write(tmp_path / "gone.mov", b"1")
    write(tmp_path / "dir/inner.mov", b"1")
    scanner, _ = scanner_for(tmp_path)
    assert scanner.scan() == []  # the first pass reports nothing: everything starts pending
    write(tmp_path / "grow.mov", b"12")
    (tmp_path / "gone.mov").unlink()
    (tmp_path / "dir/inner.mov").unlink()
    (tmp_path / "dir").rmdir()
    write(tmp_path / "new.mov", b"1")
    changes = {(c.kind, c.file.path) for c in scanner.scan()}
    assert changes == {(MODIFIED, "grow.mov"), (REMOVED, "gone.mov"), (REMOVED, "dir/inner.mov"), (ADDED, "new.mov")}
    assert scanner.scan() == []
    assert scanner.file_count == 3


def test_replacing_a_file_with_same_size_and_mtime_is_seen_by_inode(tmp_path):
    write(tmp_path / "a.mov", b"1")
    st = os.stat(tmp_path / "a.mov")
    scanner, _ = scanner_for(tmp_path)
    scanner.scan()
    write(tmp_path / "b.tmp", b"2")
    os.utime(tmp_path / "b.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp_path / "b.tmp", tmp_path / "a.mov")
    assert [(c.kind, c.file.path) for c in scanner.scan()] == [(MODIFIED, "a.mov")]


def test_unreadable_directory_keeps_its_state_and_is_reported_once(tmp_path, caplog, monkeypatch):
    """Root can read anything, so simulate the mount refusing one directory."""
    write(tmp_path / "locked/a.mov")
    write(tmp_path / "open/b.mov")
    scanner, _ = scanner_for(tmp_path)
    scanner.scan()
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with caplog.at_level("WARNING"):
        for _ in range(3):
            assert scanner.scan() == []
    assert paths(scanner) == ["locked/a.mov", "open/b.mov"]
    assert len([r for r in caplog.records if "locked" in r.getMessage()]) == 1
    monkeypatch.setattr(os, "open", real_open)
    with caplog.at_level("INFO"):
        scanner.scan()
    assert any("readable again" in r.getMessage() for r in caplog.records)


def test_stable_after_unchanged_polls_never_empty_files(tmp_path):
    write(tmp_path / "done.mov", b"abc")
    write(tmp_path / "placeholder.mov", b"")
    scanner, clock = scanner_for(tmp_path)
    scanner.scan()
    assert list(settle_stable(scanner, clock.now + 0.5, 1.0)) == []
    clock.now += 1.0
    scanner.scan()
    stable = list(settle_stable(scanner, clock.now, 1.0))
    assert [f.path for f in stable] == ["done.mov"]
    assert stable[0].size == 3
    clock.now += 100
    scanner.scan()
    assert list(settle_stable(scanner, clock.now, 1.0)) == []  # each version once; 0 bytes never


def test_a_growing_file_is_not_stable_until_it_stops(tmp_path):
    path = tmp_path / "render.mov"
    write(path, b"a")
    scanner, clock = scanner_for(tmp_path)
    scanner.scan()
    for i in range(10):
        clock.now += 0.6
        with open(path, "ab") as out:
            out.write(b"more")
        os.utime(path, ns=(0, 10**9 * (i + 1)))
        scanner.scan()
        assert list(settle_stable(scanner, clock.now, 1.0)) == []
    clock.now += 1.0
    scanner.scan()
    assert [f.size for f in settle_stable(scanner, clock.now, 1.0)] == [1 + 4 * 10]


def test_a_settled_file_that_changes_becomes_stable_again(tmp_path):
    path = tmp_path / "v.mov"
    write(path, b"v1")
    scanner, clock = scanner_for(tmp_path)
    scanner.scan()
    clock.now += 2
    assert [f.size for f in settle_stable(scanner, clock.now, 1.0)] == [2]
    write(path, b"v2-longer")
    scanner.scan()
    clock.now += 2
    scanner.scan()
    assert [f.size for f in settle_stable(scanner, clock.now, 1.0)] == [9]


def test_is_stable_rule():
    assert is_stable(10, 5.0, 6.0, 1.0)
    assert not is_stable(10, 5.0, 5.9, 1.0)
    assert not is_stable(0, 5.0, 60.0, 1.0)
    assert not is_stable(10, 0.0, 60.0, 1.0)
