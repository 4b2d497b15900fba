"""The benchmark record: JSON document, Markdown page and rich table from one table spec."""

import json

from rich.console import Console

from visim.bench.report import Column, TableReport, percent, rate


def small_report() -> TableReport:
    return TableReport(
        benchmark="demo",
        title="Demo throughput",
        unit="images per second",
        columns=[
            Column("name", "name", numeric=False),
            Column("images_per_s", "images/s", rate),
            Column("stall", "stall", percent),
            Column("note", "notes", numeric=False),
        ],
        rows=[
            {"name": "fast", "images_per_s": 1234.5, "stall": 0.05, "status": "ok", "note": ""},
            {"name": "a|b", "images_per_s": None, "status": "failed", "note": "failed: boom"},
        ],
        findings=["fast is fast"],
        method=["timed twice"],
        settings={"batch_size": 8},
        command="visim bench demo --batch-size 8",
        environment={
            "platform": "Linux",
            "cpu_model": "CPU",
            "cpu_count": 2,
            "python": "3.11",
            "cuda_version": None,
            "cuda_devices": [],
            "packages": {"torch": "2.14.1", "ffcv": None},
            "git_commit": "abc123",
            "load_average": [1.5, 1.0, 0.5],
        },
        date="2026-01-01T00:00:00+00:00",
    )


def test_markdown_holds_the_table_findings_machine_and_command():
    page = small_report().markdown()
    assert "| name | images/s | stall | notes |\n|---|---:|---:|---|" in page
    assert "| fast | 1,234 | 5.0% |  |" in page
    assert "| a\\|b | - | - | failed: boom |" in page  # a pipe in a cell is escaped
    assert "- fast is fast" in page
    assert "- batch_size: `8`" in page
    assert "git commit abc123" in page and "torch 2.14.1" in page and "ffcv" not in page
    assert "load average (1, 5, 15 min) at the start: 1.5, 1, 0.5" in page
    assert "```\nvisim bench demo --batch-size 8\n```" in page


def test_json_and_markdown_are_written_where_asked(tmp_path):
    report = small_report()
    report.write(tmp_path / "out" / "demo.json", tmp_path / "out" / "demo.md")
    document = json.loads((tmp_path / "out" / "demo.json").read_text())
    assert document["benchmark"] == "demo"
    assert document["rows"][0]["images_per_s"] == 1234.5  # raw numbers, not table text
    assert document["environment"]["git_commit"] == "abc123"
    assert set(document) >= {"date", "command", "settings", "findings", "method", "unit"}
    assert (tmp_path / "out" / "demo.md").read_text() == report.markdown()


def test_rich_table_shows_every_row():
    console = Console(width=200, record=True)
    console.print(small_report().rich_table())
    output = console.export_text()
    assert "1,234" in output and "failed: boom" in output
