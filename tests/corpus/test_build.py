"""The corpus by name: OpInfo ops and hand-written kernels (``kernel.NAME``), and the
``ops`` command's handling of kernel names."""

from __future__ import annotations

import pytest

from gradlab.core.errors import GradlabError
from gradlab.corpus.build import corpus_entries, kernel_names, select

pytest.importorskip("expecttest")


def test_kernel_names_select_kernels_and_a_bare_name_its_variants():
    entries, skipped = corpus_entries(0, ["kernel.blockwise_attention", "kernel.clamp"])
    names = {e.name for e in entries}
    assert names == {"kernel.blockwise_attention", "kernel.blockwise_attention.ill_conditioned",
                     "kernel.clamp"}
    assert all(e.family == "kernel" for e in entries) and not skipped


def test_ops_and_kernels_mix_and_none_selects_all_kinds():
    entries, _ = corpus_entries(0, ["abs", "kernel.sparsemax"])
    assert {e.family for e in entries} == {"opinfo", "kernel"}
    assert select(None) == (None, None)
    assert select(["abs"]) == (["abs"], [])


def test_an_unknown_kernel_is_bad_input_that_lists_the_kernels():
    with pytest.raises(GradlabError, match="not a hand-written kernel.*kernel.clamp"):
        select(["kernel.clmap"])
    assert "kernel.compiled_layernorm" in kernel_names()


def test_the_ops_command_runs_a_kernel(tmp_path, capsys):
    from gradlab.cli.main import main

    out = tmp_path / "k.csv"
    code = main(["ops", "--op", "kernel.clamp", "--dtype", "float32", "--no-progress",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "kernel.clamp" in out.read_text()
    assert main(["ops", "--op", "kernel.nope"]) == 2
    assert "not a hand-written kernel" in capsys.readouterr().err
