"""The op corpus over PyTorch's OpInfo database: one ``Entry`` per kept sample of
every OpInfo that supports autograd, or a ``Skipped`` saying why not.

For each op (``op_db``, imported lazily: it takes seconds and needs the package
``expecttest``):

- its dtypes are the gradlab dtypes in both ``supported_dtypes("cpu")`` and
  ``supported_backward_dtypes("cpu")``; each other one is a Skipped
  ("bfloat16: …"). float64 is needed (the samples and the truth are float64);
- under ``torch.manual_seed(seed)`` its samples are ``op.sample_inputs("cpu",
  torch.float64, requires_grad=True)`` (which reseed every sample themselves from
  torch's ``common_utils.SEED``, so they do not follow ``seed``: docs/ops.md, "Known
  limitation"), each mapped onto verify's positional
  interface (``samples.map_sample``); samples with zero elements, complex or
  non-finite values, no differentiated input, or over ``MAX_ELEMENTS`` are
  dropped with the reason;
- the largest samples first, at most ``MAX_SAMPLES`` become entries
  ``f"{name}#{index}"`` (index in the op's sample list), each with the first
  usable reference (``references``: torch._refs, torch._decomp, formula);
  a sample where the op itself raises, gives no gradient or is random, or where
  the reference's float64 gradient differs from the op's by more than
  ``AGREEMENT``, is dropped. Outputs the op does not differentiate (the mean and
  rstd of native_layer_norm) are left out of both functions.

The candidate is the op itself (``op.op``) on the sample; the reference the same
call of the reference. Each entry's ``note`` gives the float64 agreement of the
two gradients on the sample (max|G_ref − G_op| / max|G_op|) and the reference.
"""

from __future__ import annotations

import difflib
import functools
import sys
import warnings
from collections import Counter

import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.errors import GradlabError
from gradlab.corpus.entry import Entry, Skipped
from gradlab.corpus.references import Probe, find_reference, record
from gradlab.corpus.samples import Mapped, map_sample
from gradlab.verification.calls import first_line

__all__ = ["AGREEMENT", "MAX_SAMPLES", "MAX_TRIES", "full_name", "load_op_db", "op_entries",
           "opinfo_entries", "opinfo_names", "select_ops"]

FAMILY = "opinfo"
#: Samples kept per op (the largest first), and samples tried for them at most.
MAX_SAMPLES = 2
MAX_TRIES = 4
INSTALL = "pip install expecttest"
#: A reference whose float64 gradient differs from the op's by more than this
#: (relative, max-norm) on the sample is not the same function: the sample is dropped.
AGREEMENT = 1e-6


@functools.cache
def load_op_db() -> tuple:
    """torch's OpInfo database (the ops that support autograd), or one GradlabError
    saying what to install."""
    try:
        from torch.testing._internal.common_methods_invocations import op_db
    except ModuleNotFoundError as exc:
        missing = exc.name or "a module"
        if missing.startswith("torch"):
            raise GradlabError(f"the op corpus needs {missing}, which this torch build lacks: "
                               "install the full torch wheel (and expecttest: "
                               f"{sys.executable} -m {INSTALL})") from None
        raise GradlabError(f"the op corpus needs torch's OpInfo database, which needs "
                           f"{missing}: {sys.executable} -m {INSTALL}") from None
    except ImportError as exc:
        raise GradlabError(f"the op corpus cannot import torch's OpInfo database "
                           f"({first_line(exc)}); {INSTALL}") from None
    return tuple(op for op in op_db if op.supports_autograd)


def full_name(op) -> str:
    """``name`` or ``name.variant``: how the corpus names an OpInfo."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


def opinfo_names() -> list[str]:
    """Every op of the corpus, by full name, in op_db's order."""
    return list(dict.fromkeys(full_name(op) for op in load_op_db()))


def select_ops(names=None) -> list:
    """The OpInfos named (a full name, or a bare name for all its variants), in
    op_db's order; all of them for None. An unknown name is a GradlabError."""
    ops = load_op_db()
    if names is None:
        return list(ops)
    known = {full_name(op) for op in ops} | {op.name for op in ops}
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise GradlabError(f"op {name!r} is not in the corpus{hint} (`python -m gradlab "
                               f"ops --list` lists the {len(opinfo_names())} ops)", "op")
    wanted = set(names)
    return [op for op in ops if full_name(op) in wanted or op.name in wanted]


def opinfo_entries(seed: int, ops=None) -> tuple[list[Entry], list[Skipped]]:
    """Every entry and skip of the corpus for ``seed`` (``ops``: names to keep)."""
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for op in select_ops(ops):
        got, skips = op_entries(op, seed)
        entries += got
        skipped += skips
    return entries, skipped


def _dtypes(op) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """(the gradlab dtypes the op supports forward and backward, [(dtype, why not)])."""
    fwd, bwd = op.supported_dtypes("cpu"), op.supported_backward_dtypes("cpu")
    ok, missing = [], []
    for name in DTYPE_NAMES:
        dtype = DTYPES[name].torch_dtype
        if dtype in fwd and dtype in bwd:
            ok.append(name)
        else:
            missing.append((name, f"{name}: not among its supported "
                                  f"{'backward ' if dtype in fwd else ''}dtypes on cpu"))
    return tuple(ok), missing


def op_entries(op, seed: int) -> tuple[list[Entry], list[Skipped]]:
    """One op's entries (at most MAX_SAMPLES) and skips for ``seed``."""
    name = full_name(op)
    dtypes, missing = _dtypes(op)
    if "float64" not in dtypes:
        bwd = op.supported_backward_dtypes("cpu")
        why = ("complex only" if any(d.is_complex for d in bwd) and
               not any(d.is_floating_point for d in bwd) else
               "float64 is not among its supported dtypes on cpu (the truth needs it)")
        return [], [Skipped(name, FAMILY, why)]
    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = list(op.sample_inputs("cpu", torch.float64, requires_grad=True))
    except Exception as exc:  # noqa: BLE001 (a broken sample function: skipped, said why)
        return [], [Skipped(name, FAMILY, f"its sample inputs raise {first_line(exc, 160)}")]
    mapped, drops = [], Counter()
    for index, sample in enumerate(samples):
        got = map_sample(op.op, sample, name)
        if isinstance(got, str):
            drops[got.split(" in ")[0].split(":")[0]] += 1
        else:
            mapped.append((index, got))
    mapped.sort(key=lambda im: (-im[1].elements, im[0]))
    entries, failures = [], []
    for index, m in mapped[:MAX_TRIES]:
        if len(entries) == MAX_SAMPLES:
            break
        got = _entry(op, f"{name}#{index}", m, dtypes)
        if isinstance(got, str):
            failures.append(got)
        else:
            entries.append(got)
    if not entries:
        return [], [Skipped(name, FAMILY, _why_none(samples, drops, failures))]
    dropped = sum(drops.values())
    if dropped:
        text = ", ".join(f"{n} {why}" for why, n in drops.most_common())
        entries = [_with_note(e, f"{dropped} of {len(samples)} samples dropped ({text})")
                   for e in entries]
    return entries, [Skipped(name, FAMILY, why) for _, why in missing]


def _why_none(samples, drops: Counter, failures: list[str]) -> str:
    if failures:
        return failures[0]
    if not samples:
        return "no sample inputs"
    text = ", ".join(f"{n} {why}" for why, n in drops.most_common())
    return f"no usable sample ({text})"


def _with_note(entry: Entry, note: str) -> Entry:
    from dataclasses import replace

    return replace(entry, note=f"{entry.note}; {note}" if entry.note else note)


def _entry(op, name: str, m: Mapped, dtypes: tuple[str, ...]) -> Entry | str:
    """The entry of one mapped sample, or why it has none."""
    try:
        cand = record(m.call, m.inputs)
        again = record(m.call, m.inputs)
    except Exception as exc:  # noqa: BLE001 (the op on its own sample)
        return f"the op raises on its sample: {first_line(exc, 160)}"
    if all(s is None for s in cand.shapes):
        return "no floating output"
    missing = [n for n, g in cand.grads.items() if g is None]
    if missing:
        return f"the op gives no gradient for {missing[0]!r}"
    if not _same(cand, again):
        return "random: two calls on the same sample differ"
    fixed = _fixed_output_dtype(m.call, m, dtypes)
    if fixed:
        return f"its output dtype is fixed ({fixed}), not its input's"
    keep = cand.differentiable
    if len(keep) < len(cand.outputs):  # outputs the op does not differentiate: left out
        m = Mapped(m.inputs, m.call.keeping(keep))
        cand = record(m.call, m.inputs)
    found = find_reference(op, m, cand)
    if isinstance(found, str):
        return found
    fixed = _fixed_output_dtype(found.fn, m, dtypes)
    if fixed:
        return f"its {found.kind} reference's output dtype is fixed ({fixed})"
    agreement = _agreement(found.probe, cand)
    if not agreement <= AGREEMENT:
        return (f"its {found.kind} reference ({found.source}) disagrees with the op in "
                f"float64 on the sample: max|G_ref − G_op| / max|G_op| = {agreement:.2g}, "
                f"over {AGREEMENT:g} (not the same function there, or random)")
    note = (f"float64 agreement {agreement:.1e} "
            f"(max|G_ref − G_op| / max|G_op|); reference {found.source}")
    return Entry(name, FAMILY, m.call, found.fn, m.inputs, dtypes, found.kind, note,
                 (full_name(op),))


def _fixed_output_dtype(fn, m: Mapped, dtypes: tuple[str, ...]) -> str:
    """'X from Y inputs' for a floating output whose dtype is not its inputs' Y (a
    cast, a dtype= keyword), else ''."""
    for name in dtypes:
        dtype = DTYPES[name].torch_dtype
        try:
            with torch.no_grad():
                result = fn(*(t.to(dtype) for t in m.inputs.values()))
        except Exception:  # noqa: BLE001 (verify's error rows will say what it does)
            continue
        outs = [result] if isinstance(result, torch.Tensor) else list(result)
        wrong = [o.dtype for o in outs if o.is_floating_point() and o.dtype != dtype]
        if wrong:
            return f"{str(wrong[0]).removeprefix('torch.')} from {name} inputs"
    return ""


def _same(a: Probe, b: Probe) -> bool:
    """The same outputs and gradients (NaN equal to NaN)."""
    pairs = [*zip(a.outputs, b.outputs), *((a.grads[n], b.grads[n]) for n in a.grads)]
    return all(x.shape == y.shape and bool(torch.equal(x, y) or
                                           (x.is_floating_point() and
                                            torch.allclose(x, y, rtol=0, atol=0,
                                                           equal_nan=True)))
               for x, y in pairs)


def _agreement(ref: Probe, cand: Probe) -> float:
    """max over inputs of max|G_ref − G_op| / max|G_op| (0/0 = 0)."""
    worst = 0.0
    for n, g in cand.grads.items():
        peak = float(g.abs().max()) if g.numel() else 0.0
        diff = float((ref.grads[n] - g).abs().max()) if g.numel() else 0.0
        worst = max(worst, diff / peak if peak else diff)
    return worst
