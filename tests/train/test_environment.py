"""The git commit recorded with runs and benchmarks names the code that ran."""

import subprocess

from visim.train.environment import DIRTY_SUFFIX, git_commit


def git(where, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_git_commit_is_marked_dirty_while_tracked_files_differ_from_it(tmp_path):
    git(tmp_path, "init", "-q")
    package = tmp_path / "package"
    package.mkdir()
    (package / "code.py").write_text("x = 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(package) == head
    (package / "notes.txt").write_text("untracked files are not the code that ran\n")
    assert git_commit(package) == head
    (package / "code.py").write_text("x = 2\n")
    assert git_commit(package) == head + DIRTY_SUFFIX
    # Changes outside the directory asked about do not count.
    git(tmp_path, "checkout", "-q", "--", "package/code.py")
    (tmp_path / "outside.py").write_text("y = 1\n")
    git(tmp_path, "add", "outside.py")
    assert git_commit(package) == head


def test_no_git_checkout_gives_no_commit(tmp_path):
    assert git_commit(tmp_path) is None
