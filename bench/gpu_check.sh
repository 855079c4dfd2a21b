#!/usr/bin/env bash
# The one-call GPU check (issue 15; docs/gpu.md):
#
#   bash bench/gpu_check.sh OUTDIR          on a machine with an NVIDIA GPU, from the repo root
#   bash bench/gpu_check.sh --cpu OUTDIR    the same pipeline on CPU targets at a tiny size
#                                           (also RNNX_GPU_CHECK_CPU=1): tests the script itself
#
# Steps, each under its own `timeout`; a failing step does not stop the later ones:
#   install  pip install --no-index from the wheels beside it (bench/wheels, or $RNNX_WHEELS)
#            whatever does not import: array-api-compat, array-api-strict, hypothesis,
#            pytest-xdist, and rnnx itself (reinstalled when it is a plain, non-editable install)
#   env      nvidia-smi, versions of cupy / jax / torch and whether each sees CUDA -> env.txt;
#            fails when a target of the run is unavailable
#   pytest   the GPU half of the test matrix (tests/test_backends.py) and save/load/to_torch and
#            train/predict/forecast on each GPU target (tests/test_io_targets.py), concurrently with
#   parity   rnnx parity on the same targets
#   bench    rnnx bench --sizes 256,100,256,512, cuDNN (TF32 off) as the float32 anchor; alone
#   summary  bench/gpu_summary.py -> summary.txt
# --cpu: targets numpy-cpu, torch-cpu, jax-cpu; bench --sizes 1,5,1,8 --repeat 1 --warmup 1
# --settle 0 --rewarm-ms 0 --min-round-ms 0 (its timings mean nothing: it checks the plumbing).
# OUTDIR gets exactly 8 files (a device run returns at most 8): env.txt, pytest.log, pytest.xml,
# parity.log, parity.json, bench.log, bench.json, summary.txt.  Exit status: 0 when every step
# passed, else 1.  At most 8 minutes: the timeouts below add up to 425 s (pytest and parity run
# side by side), plus at most 10 s of grace for each of the five phases whose step ignores SIGTERM.
#
# Settings (environment): PYTHON (default python3), RNNX_WHEELS (wheel folder),
# RNNX_GPU_CHECK_K (a pytest -k expression), RNNX_GPU_CHECK_WORKERS (pytest -n; default 4, 2 with
# --cpu), RNNX_GPU_CHECK_CELLS (--cells of parity and bench, e.g. lstm), RNNX_GPU_CHECK_PARITY_TARGETS
# (--cpu only: parity's targets, default numpy-cpu,torch-cpu,jax-cpu), RNNX_GPU_CHECK_T_<STEP>
# (seconds: INSTALL 30, ENV 30, PYTEST 195, PARITY 195, BENCH 155, SUMMARY 15).
set -uo pipefail

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

CPU=${RNNX_GPU_CHECK_CPU:-0}
OUTDIR=
while (($#)); do
    case $1 in
        --cpu) CPU=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "gpu_check: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [[ -z $OUTDIR ]] || { echo "gpu_check: one OUTDIR, got '$OUTDIR' and '$1'" >&2; exit 2; }
           OUTDIR=$1 ;;
    esac
    shift
done
[[ -n $OUTDIR ]] || { echo "gpu_check: OUTDIR is required" >&2; usage >&2; exit 2; }
case ${CPU,,} in 1|true|yes|on) CPU=1 ;; *) CPU=0 ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=${RNNX_WHEELS:-$REPO/bench/wheels}
mkdir -p "$OUTDIR" || exit 2
OUT=$(cd "$OUTDIR" && pwd)
rm -f "$OUT"/{env.txt,pytest.log,pytest.xml,parity.log,parity.json,bench.log,bench.json,summary.txt}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rnnx-gpu-check.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
cd "$REPO" || exit 2

if ((CPU)); then
    MODE=cpu
    TEST_TARGETS=numpy-cpu,torch-cpu,jax-cpu
    PARITY_TARGETS=${RNNX_GPU_CHECK_PARITY_TARGETS:-numpy-cpu,torch-cpu,jax-cpu}
    BENCH_TARGETS=numpy-cpu,jax-cpu,torch-cpu
    BENCH_ARGS=(--sizes 1,5,1,8 --repeat 1 --warmup 1 --settle 0 --rewarm-ms 0 --min-round-ms 0)
    WORKERS=${RNNX_GPU_CHECK_WORKERS:-2}
else
    MODE=gpu
    TEST_TARGETS=torch-cuda,jax-gpu,cupy-cuda
    PARITY_TARGETS=torch-cuda,jax-gpu,cupy-cuda
    BENCH_TARGETS=cupy,jax-gpu,torch-cuda
    BENCH_ARGS=(--sizes 256,100,256,512)
    WORKERS=${RNNX_GPU_CHECK_WORKERS:-4}
fi
CELLS=()
[[ -n ${RNNX_GPU_CHECK_CELLS:-} ]] && CELLS=(--cells "$RNNX_GPU_CHECK_CELLS")
K=()
[[ -n ${RNNX_GPU_CHECK_K:-} ]] && K=(-k "$RNNX_GPU_CHECK_K")
T_INSTALL=${RNNX_GPU_CHECK_T_INSTALL:-30}
T_ENV=${RNNX_GPU_CHECK_T_ENV:-30}
T_PYTEST=${RNNX_GPU_CHECK_T_PYTEST:-195}
T_PARITY=${RNNX_GPU_CHECK_T_PARITY:-195}
T_BENCH=${RNNX_GPU_CHECK_T_BENCH:-155}
T_SUMMARY=${RNNX_GPU_CHECK_T_SUMMARY:-15}

# The installed rnnx (the wheel), not the source folder the shell stands in: `python -m` would
# put the repo root first on sys.path, and rnnx/ there lacks rnnx.backends (it is backends/).
export PYTHONSAFEPATH=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
T0=$SECONDS

# step NAME SECONDS LOGFILE [--foreground] -- CMD...: run CMD under timeout, log to LOGFILE
# (appended), record "NAME RC SECONDS" in $WORK/steps.  --foreground signals only CMD itself
# (pytest: its workers stop when it does, and it writes the junit XML of what ran).
step() {
    local name=$1 secs=$2 log=$3 fg=() t=$SECONDS rc
    shift 3
    if [[ $1 == --foreground ]]; then fg=(--foreground); shift; fi
    [[ $1 == -- ]] && shift
    echo "[gpu_check $((SECONDS - T0))s] $name: $* (timeout ${secs}s)" | tee -a "$log" >&2
    timeout "${fg[@]}" -k 10 "$secs" "$@" >>"$log" 2>&1 </dev/null
    rc=$?
    ((rc == 124 || rc == 137)) && echo "[gpu_check] $name: stopped at its ${secs}s timeout" >>"$log"
    echo "$name $rc $((SECONDS - t))" >>"$WORK/steps"
    echo "[gpu_check $((SECONDS - T0))s] $name: exit $rc after $((SECONDS - t))s" >&2
    return 0
}

# ---- install --------------------------------------------------------------------------
# module -> distribution (wheel) name; rnnx is handled apart (reinstalled unless editable)
MODULES="array_api_compat:array-api-compat array_api_strict:array-api-strict hypothesis:hypothesis
sortedcontainers:sortedcontainers xdist:pytest-xdist execnet:execnet"

install() {
    echo "== install ($MODE mode; wheels: $WHEELS) =="
    local need=() pair mod dist state
    for pair in $MODULES; do
        mod=${pair%%:*} dist=${pair#*:}
        if "$PY" -c "import $mod" 2>/dev/null; then echo "have $dist"; else need+=("$dist"); fi
    done
    # rnnx: "editable" (this checkout, or a development install: leave it), "installed"
    # (a copy, maybe an older one: replace it from the wheel), or "missing"
    state=$("$PY" - <<'EOF' 2>/dev/null || echo missing
import importlib.metadata as m, json
import rnnx, rnnx.backends  # noqa: F401
try:
    url = json.loads(m.distribution("rnnx").read_text("direct_url.json") or "{}")
except m.PackageNotFoundError:
    url = {"dir_info": {"editable": True}}  # importable without being installed: a source tree
print("editable" if url.get("dir_info", {}).get("editable") else "installed")
EOF
)
    echo "rnnx: $state"
    local rnnx_whl=()
    if [[ $state != editable ]]; then
        rnnx_whl=("$WHEELS"/rnnx-*.whl)
        if [[ ! -e ${rnnx_whl[0]} ]]; then
            rnnx_whl=()
            if [[ $state == missing ]]; then
                echo "no rnnx wheel in $WHEELS (build them with: bash bench/gpu_wheels.sh)"; return 1
            fi
            echo "no rnnx wheel in $WHEELS: keeping the installed rnnx"
        fi
    fi
    if ((${#need[@]} == 0 && ${#rnnx_whl[@]} == 0)); then
        echo "nothing to install: every package imports"; return 0
    fi
    [[ -d $WHEELS ]] || { echo "no wheel folder $WHEELS (build it with: bash bench/gpu_wheels.sh)"; return 1; }
    # one package at a time, so that one missing wheel costs only its own package; each into
    # the interpreter's environment, or where that fails, into a folder put on PYTHONPATH
    local pipargs=(-m pip install --disable-pip-version-check --no-index --find-links "$WHEELS" --no-deps
                   --no-compile --no-cache-dir) site=${TMPDIR:-/tmp}/rnnx-gpu-check-site what failed=()
    for what in "${need[@]}" "${rnnx_whl[@]}"; do
        echo "-- installing $what from $WHEELS"
        local extra=()
        [[ $what == */rnnx-*.whl ]] && extra=(--force-reinstall)
        if "$PY" "${pipargs[@]}" "${extra[@]}" "$what"; then continue; fi
        echo "-- into the environment failed; trying --target $site"
        if "$PY" "${pipargs[@]}" --upgrade --target "$site" "$what"; then
            echo "$site" >"$WORK/site"
        else
            failed+=("$what")
        fi
    done
    ((${#failed[@]} == 0)) || { echo "not installed: ${failed[*]}"; return 1; }
}
export -f install
export PY WHEELS WORK MODULES MODE
step install "$T_INSTALL" "$OUT/env.txt" -- bash -c install
if [[ -f $WORK/site ]]; then
    site=$(<"$WORK/site")
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH} PATH=$site/bin:$PATH
fi

# ---- env ------------------------------------------------------------------------------
cat >"$WORK/env.py" <<'EOF'
"""Environment summary; exit 3 when a target of this run is unavailable."""
import importlib.metadata as md
import os
import platform
import sys

targets = sys.argv[1]
print(f"python {platform.python_version()} at {sys.executable}; {platform.platform()}")
for d in ("rnnx", "numpy", "array-api-compat", "array-api-strict", "cupy-cuda13x", "cupy-cuda12x", "cupy",
          "jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "torch", "pytest", "pytest-xdist", "hypothesis"):
    try:
        print(f"  {d} {md.version(d)}")
    except md.PackageNotFoundError:
        pass
for k in ("CUDA_VISIBLE_DEVICES", "NVIDIA_TF32_OVERRIDE", "CUPY_TF32", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE",
          "JAX_PLATFORMS", "PYTHONPATH"):
    if k in os.environ:
        print(f"  ${k}={os.environ[k]}")


def probe(name, fn):
    try:
        print(f"{name}: {fn()}")
    except Exception as e:  # report and go on: one library's trouble must not hide the others
        print(f"{name}: unavailable ({type(e).__name__}: {e})")


def cupy_info():
    import cupy

    n = cupy.cuda.runtime.getDeviceCount()
    names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
    return (f"{cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, driver "
            f"{cupy.cuda.runtime.driverGetVersion()}, {n} device(s) {names}")


def jax_info():
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError as e:
        gpus = f"none ({e})"
    return f"{jax.__version__}, default backend {jax.default_backend()}, gpu devices {gpus}"


def torch_info():
    import torch

    cuda = torch.cuda.is_available()
    s = f"{torch.__version__}, built with CUDA {torch.version.cuda}, cuda available {cuda}"
    if cuda:
        s += (f", {torch.cuda.device_count()} device(s) {torch.cuda.get_device_name(0)}, cuDNN "
              f"{torch.backends.cudnn.version()}")
    s += (f"; defaults before rnnx loads: cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
          f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    return s


probe("cupy", cupy_info)
probe("jax", jax_info)
probe("torch", torch_info)

import rnnx  # noqa: E402

print(f"rnnx {getattr(rnnx, '__version__', '?')} from {os.path.dirname(rnnx.__file__)}")
from rnnx import backends  # noqa: E402

print(f"rnnx.backends from {os.path.dirname(backends.__file__)}")
bad = []
for t in backends.selected(targets):
    why = t.unavailable()
    print(f"target {t.id}: {'available' if why is None else 'UNAVAILABLE: ' + why}")
    if why is not None:
        bad.append(t.id)
if bad:
    print(f"unavailable targets of this run: {', '.join(bad)}")
    sys.exit(3)
EOF

env_step() {
    echo "== nvidia-smi =="
    if command -v nvidia-smi >/dev/null; then
        timeout 15 nvidia-smi || echo "nvidia-smi: exit $?"
        timeout 15 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv ||
            echo "nvidia-smi --query-gpu: exit $?"
    else
        echo "no nvidia-smi on PATH"
    fi
    echo "== libraries (targets of this run: $TEST_TARGETS) =="
    "$PY" "$WORK/env.py" "$TEST_TARGETS"
}
export -f env_step
export TEST_TARGETS
step env "$T_ENV" "$OUT/env.txt" -- bash -c env_step

# ---- pytest and parity, side by side (neither is timed) ---------------------------------
mkdir -p "$WORK/plugin"
cat >"$WORK/plugin/gpu_check_stop.py" <<'EOF'
"""pytest plugin of bench/gpu_check.sh: SIGTERM (the step's timeout) stops the session like
Ctrl-C, so pytest still writes the junit XML of the tests that ran.  The xdist workers are
killed first: told to shut down, each would finish the tests queued to it."""
import os
import signal


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:  # the field after the state: ppid
                out.append(int(d))
    return out


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # an xdist worker: stopped by its controller
        return

    def _stop(signum, frame):
        for pid in _children(os.getpid()) if os.path.isdir("/proc") else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        raise KeyboardInterrupt(f"stopped by signal {signum} (the step's timeout)")

    signal.signal(signal.SIGTERM, _stop)
EOF

# several processes share the GPU: JAX takes memory as it needs it, not 75% up front
step pytest "$T_PYTEST" "$OUT/pytest.log" --foreground -- \
    env RNNX_BACKENDS="$TEST_TARGETS" XLA_PYTHON_CLIENT_PREALLOCATE=false \
    PYTHONPATH="$WORK/plugin${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" -m pytest tests/test_backends.py tests/test_io_targets.py -q -n "$WORKERS" -p gpu_check_stop -p no:cacheprovider \
    --junitxml "$OUT/pytest.xml" "${K[@]}" &
pytest_pid=$!
step parity "$T_PARITY" "$OUT/parity.log" -- \
    env XLA_PYTHON_CLIENT_PREALLOCATE=false \
    "$PY" -m rnnx parity --backend "$PARITY_TARGETS" "${CELLS[@]}" --json "$OUT/parity.json" &
parity_pid=$!
wait "$pytest_pid" "$parity_pid"

# ---- bench, alone on the machine --------------------------------------------------------
step bench "$T_BENCH" "$OUT/bench.log" -- \
    "$PY" -m rnnx bench "${BENCH_ARGS[@]}" --backend "$BENCH_TARGETS" "${CELLS[@]}" --json "$OUT/bench.json"

# ---- summary ----------------------------------------------------------------------------
step summary "$T_SUMMARY" "$WORK/summary.log" -- \
    "$PY" "$REPO/bench/gpu_summary.py" "$OUT" --steps "$WORK/steps" --mode "$MODE" \
    --targets "$TEST_TARGETS" --elapsed "$((SECONDS - T0))"
if [[ -f $OUT/summary.txt ]]; then
    cat "$OUT/summary.txt"
else
    echo "gpu_check: no summary.txt; the summariser said:" >&2
    cat "$WORK/summary.log" >&2
fi

failed=$(awk '$2 != 0 {print $1 " (exit " $2 ")"}' "$WORK/steps" | paste -sd, -)
echo "[gpu_check $((SECONDS - T0))s] done ($MODE mode): ${failed:-every step passed}" >&2
[[ -z $failed ]]
