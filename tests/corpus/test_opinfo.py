"""The OpInfo corpus: each op maps onto verify's interface with a reference that
differentiates in float64 and agrees with the op's own gradient there; skipped ops
say why; a reference that is the op itself is refused. Structure only: the verdicts
belong to gradlab/core and are not asserted here."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.corpus.entry import Entry, Skipped
from gradlab.corpus.references import KINDS, record

pytest.importorskip("expecttest")

from gradlab.corpus.opinfo import opinfo_entries, opinfo_names, select_ops  # noqa: E402

#: Ops that must map to entries: activations, norms, reductions, products, convolution.
OPS = ("nn.functional.relu", "abs", "nn.functional.hardtanh", "nn.functional.conv2d",
       "nn.functional.linear", "log_softmax", "nn.functional.layer_norm",
       "nn.functional.batch_norm", "amax", "nn.functional.softplus", "atan2", "sinc",
       "logsumexp", "mm", "matmul", "sum", "mean", "softmax", "nn.functional.gelu",
       "nn.functional.silu", "var_mean", "nn.functional.mse_loss", "addmm", "bmm",
       "nn.functional.group_norm", "clamp", "std", "nn.functional.elu", "sigmoid",
       "nn.functional.mish", "nn.functional.leaky_relu", "mv", "amin", "xlogy",
       "nn.functional.cross_entropy", "cumsum", "nn.functional.embedding")
#: An op whose only reference is the op itself (torch._refs.exp is prims.exp = aten.exp).
ITSELF = "exp"


@pytest.fixture(scope="module")
def built():
    entries, skipped = opinfo_entries(0, [*OPS, ITSELF])
    return entries, skipped


def by_op(entries: list[Entry]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.tags[0], []).append(e)
    return out


def test_every_listed_op_has_entries(built):
    entries, skipped = built
    have = by_op(entries)
    missing = {op: [s.reason for s in skipped if s.name == op] for op in OPS if op not in have}
    assert not missing, missing
    assert len(have) >= 30


@pytest.mark.parametrize("op", OPS)
def test_the_reference_agrees_with_the_op_in_float64(built, op):
    entries = by_op(built[0])[op]
    assert 1 <= len(entries) <= 2
    for e in entries:
        assert e.family == "opinfo" and e.reference_kind in KINDS
        assert e.name.startswith(f"{op}#") and e.name.partition("#")[2].isdigit()
        assert "float64" in e.dtypes and set(e.dtypes) <= set(DTYPE_NAMES)
        assert e.inputs and all(t.dtype == torch.float64 for t in e.inputs.values())
        assert next(iter(e.inputs)) == "input" or next(iter(e.inputs)).startswith("input[")
        cand, ref = record(e.candidate, e.inputs), record(e.reference, e.inputs)
        for name, g in cand.grads.items():
            r = ref.grads[name]
            assert g is not None and r is not None, (e.name, name)
            scale = max(float(g.abs().max()), 1e-300)
            assert float((r - g).abs().max()) <= 1e-8 * scale, (e.name, name, e.note)


def test_skipped_ops_say_why(built):
    entries, skipped = built
    assert all(isinstance(s, Skipped) and s.family == "opinfo" and s.reason.strip()
               for s in skipped)
    names = {e.tags[0] for e in entries}
    per_dtype = [s for s in skipped if s.reason.partition(":")[0] in DTYPE_NAMES]
    assert all(s.name in names for s in per_dtype)


def test_a_reference_that_is_the_op_itself_is_skipped(built):
    entries, skipped = built
    assert not [e for e in entries if e.tags[0] == ITSELF]
    (skip,) = [s for s in skipped if s.name == ITSELF]
    assert "aten.exp itself" in skip.reason


def test_entries_are_the_same_for_the_same_seed(built):
    again, _ = opinfo_entries(0, ["nn.functional.relu"])
    first = by_op(built[0])["nn.functional.relu"]
    assert [e.name for e in again] == [e.name for e in first]
    for a, b in zip(again, first):
        assert all(torch.equal(a.inputs[n], b.inputs[n]) for n in a.inputs)


def test_names_and_selection():
    names = opinfo_names()
    assert len(names) > 400 and len(set(names)) == len(names)
    assert {"nn.functional.relu", "atan2"} <= set(names)
    assert len(select_ops(["nn.functional.pad"])) > 1  # a bare name takes every variant
    with pytest.raises(GradlabError, match="ops --list"):
        select_ops(["no_such_op"])
