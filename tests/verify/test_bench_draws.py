"""bench_verify's least ratio counts verify's draws: it must draw exactly what verify
draws (the inputs given as shapes, the upstream gradients, float64's Taylor
directions), no more and no less."""

from __future__ import annotations

import pytest
import torch

from bench.bench_verify import draws
from gradlab.core.dtypes import dtype_info
from gradlab.problems.library import PROBLEMS
from gradlab.verification.run import _start


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["layernorm", "cross-entropy", "seed"])
def test_the_bench_draws_what_verify_draws(name, dtype):
    problem = PROBLEMS[name]
    size = problem.sizes[0]
    bench_gen = draws(problem, size, dtype)()
    (_,), run = _start(problem.candidate("correct").fn, problem.reference,
                       problem.inputs(size), (dtype,), 0, None, None)
    torch_dtype = dtype_info(dtype).torch_dtype
    run._truth(run._args(torch_dtype), torch_dtype)  # verify draws the upstream here
    # The two generators have drawn the same count of normals: their next draws agree.
    assert torch.equal(torch.randn(8, generator=bench_gen, dtype=torch.float64),
                       torch.randn(8, generator=run.draws.generator, dtype=torch.float64))
