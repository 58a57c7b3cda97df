"""What the float64 Taylor test resolves: the joint test (every input moved at once) as
verify uses it, against each input's own ladder alone.

    python -m bench.bench_taylor_power

For LayerNorm (widths 64 and 1024), GELU (64), cross-entropy (16 classes) and attention
(L = 16), seeds 0 and 1, and each differentiated input: a random error pattern of
relative size e (e·max|T| times a seeded N(0, 1) draw) is added to that input's float64
gradient T of the reference, e = 10⁻¹ … 10⁻¹¹, and the smallest e the Taylor test
fails is printed (down to the first e it passes), for

- ``combined``: verify's rule, the joint test where it finds the gradients consistent
  and covers the input (``taylor.COVER``), that input's own ladder elsewhere;
- ``own``: the input's own ladder (``taylor.taylor_test``) alone, as before 2026-12-05;
- ``joint``: the joint test alone;
- ``verify``: ``gradlab.verify`` in float64 (the rule and the Taylor test as verify
  runs them, the rule vouching where it may: ``taylor.VOUCH``) of a candidate whose
  gradient for that input is autograd's plus the same kind of error pattern
  (``Nudge``: an identity whose backward adds it), on verify's own draws.
"""

from __future__ import annotations

import torch

import gradlab
from gradlab.problems.library import PROBLEMS
from gradlab.verification.calls import as_outputs, autograd_grads
from gradlab.verification.spec import draw_inputs
from gradlab.verification.taylor import (
    COVER,
    covers_alone,
    joint_test,
    loss_at,
    own_reach,
    taylor_test,
)

F64 = torch.float64
CASES = (("layernorm", 64), ("gelu", 64), ("cross-entropy", 16), ("attention", 16),
         ("layernorm", 1024))
ERRORS = tuple(10.0**-k for k in range(1, 12))


def setup(name: str, size: int, seed: int):
    """The reference, its float64 inputs, upstream, directions and gradients."""
    problem = PROBLEMS[name]
    gen = torch.Generator().manual_seed(seed)
    specs = draw_inputs(problem.inputs(size, seed), gen)
    args = [s.at(F64) for s in specs]
    names = [s.name if s.differentiated else None for s in specs]
    with torch.no_grad():
        outs = as_outputs(problem.reference(*args))
    ups = [None if not o.is_floating_point() else torch.ones((), dtype=F64) if not o.dim()
           else torch.randn(o.shape, generator=gen, dtype=F64) for o in outs]
    dirs = {n: torch.randn(s.shape, generator=gen, dtype=F64)
            for s, n in zip(specs, names) if n}
    shapes = [tuple(o.shape) if o.is_floating_point() else None for o in outs]
    grads = autograd_grads(problem.reference, [a.clone() for a in args], names, ups, shapes,
                           F64).grads
    return problem.reference, [a.detach() for a in args], names, ups, dirs, \
        {n: g.detach() for n, g in grads.items()}


def failed(kind: str, case, name: str, bad: torch.Tensor) -> bool:
    fn, args, names, ups, dirs, grads = case
    at_x = loss_at(fn, args, ups, as_outputs)
    index = names.index(name)
    own = lambda: taylor_test(fn, args, index, bad, ups, dirs[name], as_outputs, at_x)  # noqa: E731
    if kind == "own":
        return own().failed
    wrong = {**grads, name: bad}
    joint = joint_test(fn, args, {names.index(n): g for n, g in wrong.items()}, ups,
                       {names.index(n): dirs[n] for n in wrong}, as_outputs, at_x,
                       tuple(wrong))
    if kind == "joint":
        return joint.failed
    covered = covers_alone(joint) if len(wrong) == 1 else (
        COVER * joint.reach <= own_reach(fn, args, index, bad, ups, dirs[name], as_outputs,
                                         at_x))
    return own().failed if not (joint.decided and not joint.failed and covered) else False


def smallest_caught(kind: str, case, name: str) -> float | None:
    caught = None
    grad = case[5][name]
    for e in ERRORS:
        pattern = torch.randn(grad.shape, generator=torch.Generator().manual_seed(7), dtype=F64)
        if not failed(kind, case, name, grad + e * pattern * grad.abs().max()):
            break
        caught = e
    return caught


class Nudge(torch.autograd.Function):
    """x itself; its backward adds e · max|g| times a seeded N(0, 1) pattern to the
    gradient g that reaches it."""

    @staticmethod
    def forward(ctx, x, e):
        ctx.e = e
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        pattern = torch.randn(g.shape, generator=torch.Generator().manual_seed(7),
                              dtype=g.dtype)
        return g + ctx.e * pattern * g.abs().max(), None


def verify_caught(name: str, size: int, seed: int, inp: str) -> float | None:
    """The smallest error of ERRORS whose row ``gradlab.verify`` fails in float64 (down to
    the first it passes)."""
    problem = PROBLEMS[name]
    inputs = problem.inputs(size, seed)
    index = list(inputs).index(inp)
    caught = None
    for e in ERRORS:
        def candidate(*args, e=e):
            return problem.reference(*(Nudge.apply(a, e) if i == index else a
                                       for i, a in enumerate(args)))
        report = gradlab.verify(candidate, problem.reference, inputs, ("float64",), seed)
        if report.frame.set_index("input").loc[inp, "status"] != "fail":
            break
        caught = e
    return caught


def main() -> None:
    torch.set_num_threads(1)
    print("| problem | size | seed | input | combined (verify's Taylor test) | own ladder | "
          "joint alone | verify (rule and Taylor test) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, size in CASES:
        for seed in (0, 1):
            case = setup(name, size, seed)
            for inp in case[5]:
                cells = [smallest_caught(kind, case, inp) for kind in ("combined", "own", "joint")]
                cells.append(verify_caught(name, size, seed, inp))
                text = " | ".join("none" if c is None else f"{c:.0e}" for c in cells)
                print(f"| {name} | {size} | {seed} | {inp} | {text} |", flush=True)


if __name__ == "__main__":
    main()
