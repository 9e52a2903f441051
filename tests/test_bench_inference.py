"""The latency bench (snippets/bench_inference.py) parses its arguments first,
runs every variant, and writes its report only through a temporary file."""

import pytest

from snippets import bench_inference


def test_help_and_bad_arguments_do_no_work(capsys):
    with pytest.raises(SystemExit) as done:
        bench_inference.main(["--help"])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        bench_inference.main(["--rounds", "0"])
    assert done.value.code == 2


def test_a_tiny_run_reports_every_variant_as_a_ratio_to_the_base():
    args = bench_inference.parse_args(
        ["--rounds", "1", "--batches", "1", "--seq-len", "8"]
    )
    text = bench_inference.report(args)
    for name in (
        "base",
        "control",
        "lora_merged",
        "lora_unmerged",
        "houlsby",
        "pfeiffer",
        "prefix",
        "prompt",
    ):
        assert f"\n  {name} " in text
    base_line = next(line for line in text.splitlines() if "  base " in line)
    assert base_line.split()[-3:] == ["1.000", "1.000", "1.000"]  # base / base


def test_save_replaces_the_report_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / bench_inference.NAME).write_text("old\n")
    path = bench_inference.save("new\n", tmp_path)
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o444 == 0o444  # readable by everyone
    assert [p.name for p in tmp_path.iterdir()] == [bench_inference.NAME]
