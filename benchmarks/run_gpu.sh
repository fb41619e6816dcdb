#!/usr/bin/env bash
# One short run on a GPU machine (issue #12): the GPU benchmarks (the lasso and the learners,
# then greedy codes; GREEDY=0 skips those), then the test suite on CUDA.
# Wheels carried in .whl/ (e.g. spams-bin for that machine's Python) are installed first.
# Logs go to $OUT (or ./gpu_logs) when set. Arguments go to bench_gpu.py (e.g. --skip odl ae).
# BENCH=0 skips bench_gpu.py. A shorter confirming run: PROFILE=0 (no profile, no CPU-threads bench) and
# TESTS="tests/solvers/test_lasso.py ..." (those test files only, and no second pass).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_logs}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:$PWD/benchmarks:${PYTHONPATH:-} PYTHONUNBUFFERED=1
# scikit-learn's Array API dispatch (the tensor rows, the tests) needs scipy's
export SCIPY_ARRAY_API=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# the shipped homotopy kernel alone first, in its own process: if it fails, the rest runs
# without it (a fault would leave the CUDA context of a process unusable)
timeout 120 python3 benchmarks/check_cuda_kernel.py 2>&1 | tee "$OUT/kernel.log"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "kernel check failed: SKL_SPARSE_CUDA_KERNELS=0"; \
    export SKL_SPARSE_CUDA_KERNELS=0; }
PROFILE_FLAG=$([ "${PROFILE:-1}" = 0 ] || echo --profile)
[ "${BENCH:-1}" = 0 ] || (cd benchmarks && timeout "${BENCH_TIMEOUT:-300}" python3 bench_gpu.py ${PROFILE_FLAG} "$@") 2>&1 \
    | tee "$OUT/bench.log"
# greedy l0 codes on the GPU against SPAMS' omp on all the CPU's threads (issue 26)
[ "${GREEDY:-1}" = 0 ] || (cd benchmarks && timeout "${GREEDY_TIMEOUT:-240}" python3 \
    bench_greedy.py --device cuda --n 100000 --atoms 256 1024 --sklearn-rows 500 --tensors \
    --repeat 3) 2>&1 \
    | tee "$OUT/greedy.log"
# the CPU side on all the machine's cores: torch's threads idle while ours code, or not
[ "${PROFILE:-1}" = 0 ] || (cd benchmarks && timeout "${CPU_TIMEOUT:-90}" \
    python3 bench_cpu_threads.py --repeat 3) 2>&1 | tee "$OUT/cpu_threads.log"
# -v: a run cut short by the timeout still shows which tests were running; a test over
# 100 s fails (where pytest-timeout is installed) instead of holding up the run
TIMEOUT_FLAG=$(python3 -c "import pytest_timeout" 2>/dev/null && echo --timeout=100)
SKL_SPARSE_TEST_DEVICE=cuda timeout "${TEST_TIMEOUT:-200}" python3 -m pytest -v -n 8 -rf \
    ${TIMEOUT_FLAG:-} --durations=8 --continue-on-collection-errors -p no:cacheprovider -W ignore \
    ${TESTS:-tests skl_sparse} \
    > "$OUT/tests.log" 2>&1
echo "tests: exit $?"
grep -E "^(FAILED|ERROR)|passed|failed|slowest|^[0-9.]+s " "$OUT/tests.log" | tail -30
# the coding tests again without the homotopy kernel in solver="auto" (FISTA alone: a GPU
# where the kernel cannot run), where the kernel check passed
if [ "${SKL_SPARSE_CUDA_KERNELS:-1}" != 0 ] && [ -z "${TESTS:-}" ]; then
    SKL_SPARSE_TEST_DEVICE=cuda SKL_SPARSE_TEST_GPU_HOMOTOPY=off timeout "${TEST_TIMEOUT:-200}" \
        python3 -m pytest -q -n 8 -rf ${TIMEOUT_FLAG:-} -p no:cacheprovider -W ignore \
        tests/solvers tests/sparse_coding/test_sparse_coding.py tests/test_gpu_path.py \
        tests/test_hardening.py > "$OUT/tests_fista_alone.log" 2>&1
    echo "tests without the kernel: exit $?"
    grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/tests_fista_alone.log" | tail -15
fi
