"""What runs and benchmarks record about where they ran: the code's commit, and a processor
named closely enough to tell two machines under one brand apart."""

import subprocess

from visim.train.environment import DIRTY_SUFFIX, describe_cpu, git_commit


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


TWO_PROCESSORS = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1

processor\t: 1
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC
"""


def test_processor_is_named_with_its_family_model_and_torch_kernels():
    # The brand alone ("AMD EPYC") names Zen 2 and Zen 4 machines alike; the numbers and the
    # kernels are what differ, and only the first processor's block is read.
    assert describe_cpu(TWO_PROCESSORS, "AVX512") == (
        "AMD EPYC (family 25, model 17, torch kernels AVX512)"
    )
    assert describe_cpu("model name\t: Some CPU\n", "AVX2") == "Some CPU (torch kernels AVX2)"


def test_cpuinfo_without_a_model_name_gives_no_description():
    assert describe_cpu("processor\t: 0\nfeatures\t: fp asimd\n", "DEFAULT") is None
    assert describe_cpu("", "DEFAULT") is None
