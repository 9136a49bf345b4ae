#!/usr/bin/env bash
# The first thing to run when a GPU is lent: one command, one table.
#
#   bash bench/accelerator_check.sh [--out DIR]      # on a GPU host
#   bash bench/accelerator_check.sh --dry-run        # anywhere (CPU, tiny)
#
# 1. Installs the CUDA build of TensorFlow into the venv (`make venv TF=gpu`,
#    from requirements/gpu.lock) and checks that TensorFlow sees the GPU.
# 2. Times the training step (bench/train_step.py) at 128x128x12 in four
#    variants: float32 / mixed_bfloat16, each without and with XLA.
# 3. Asks the planner (tools/plan.py) for the same config's predicted
#    per-replica memory, to set beside the measured allocator peak.
# 4. Trains the demo config (gin/demo_cpu.gin) for 300 steps on the
#    synthetic set and scores it with the judge (data and judge are made
#    first where missing).
# 5. Prints one table (bench/accelerator_report.py): steps/s, utilisation
#    of the GPU's dense peak, peak memory against the planner's prediction,
#    and the judge's numbers; also written to DIR/table.md.
#
# --dry-run runs every stage on this machine at toy sizes (16x16x4 step,
# 2 demo steps, a small judge) and skips the install, so that the script
# is known to work before a GPU is lent (tests/test_accelerator_check.py).
# Environment overrides: CH (channel multiplier, default 32), BATCH (global
# batch of the step bench, default 8), STEPS (timed steps, 20), DEMO_STEPS
# (300). Numbers go to bench/README.md with the card they ran on.
set -euo pipefail

DRY_RUN=0
OUT=runs/accelerator_check
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (--dry-run, --out DIR)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
stage() { echo; echo "=== $* ($(date +%H:%M:%S))"; }

if [[ $DRY_RUN == 1 ]]; then
  # The CPU allocator keeps peak statistics only with its BFC allocator.
  export TF_CPU_ALLOCATOR_USE_BFC=true
  SIZE=16 FRAMES=4 CH=${CH:-4} BATCH=${BATCH:-2} STEPS=${STEPS:-2}
  DEMO_STEPS=${DEMO_STEPS:-2}
  DATA_ARGS=(--num_clips=48 --num_test_clips=24 --num_frames=12 --size=32)
  JUDGE_ARGS=(--epochs=1 --num_train_clips=48 --num_test_clips=24)
  EVAL_ARGS=(--judge_num_clips=24)
  HARDWARE=h100-80g  # planner memory is hardware-independent
  stage "dry run: skipping 'make venv TF=gpu' (would install requirements/gpu.lock)"
else
  if ! command -v nvidia-smi > /dev/null; then
    echo "error: no nvidia-smi: this is not a GPU host (use --dry-run)" >&2
    exit 1
  fi
  SIZE=128 FRAMES=12 CH=${CH:-32} BATCH=${BATCH:-8} STEPS=${STEPS:-20}
  DEMO_STEPS=${DEMO_STEPS:-300}
  DATA_ARGS=()
  JUDGE_ARGS=()
  EVAL_ARGS=()
  stage "install the CUDA build: make venv TF=gpu"
  make venv TF=gpu
  $PY -c "import tensorflow as tf, sys; g = tf.config.list_physical_devices('GPU'); print('TensorFlow', tf.__version__, 'sees', g); sys.exit(0 if g else 1)"
  NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  HARDWARE=$($PY bench/accelerator_report.py --hardware_for="$NAME")
  echo "GPU: $NAME -> planner hardware '$HARDWARE'"
fi

STEP_PARAMS=(
  "--gin_param=RESOLUTION = $SIZE"
  "--gin_param=NUM_FRAMES = $FRAMES"
  "--gin_param=CHANNEL_MULTIPLIER = $CH"
  "--gin_param=training.run.global_batch_size = $BATCH"
)
for precision in float32 mixed_bfloat16; do
  stage "planner: ${SIZE}x${SIZE}x${FRAMES}, ch $CH, batch $BATCH, $precision"
  $PY tools/plan.py --gin_file=gin/bench_cpu.gin "${STEP_PARAMS[@]}" \
    --precision=$precision --hardware=$HARDWARE --replicas=1 \
    --json="$OUT/plan_$precision.json"
  for jit in nojit jit; do
    stage "step bench: $precision, $jit"
    flag=--nojit; [[ $jit == jit ]] && flag=--jit
    $PY bench/train_step.py --gin_file=gin/bench_cpu.gin "${STEP_PARAMS[@]}" \
      --precision=$precision $flag --steps=$STEPS --warmup=1 \
      --json="$OUT/step_${precision}_$jit.json"
  done
done

DATA="$OUT/data/synthetic"
JUDGE="$OUT/judge"
DEMO="$OUT/demo"
stage "synthetic data (resumable) and judge (once)"
$PY tools/make_tfrecords.py synthetic --output_dir="$DATA" "${DATA_ARGS[@]}"
test -f "$JUDGE/judge.json" || $PY tools/train_judge.py --judge_dir="$JUDGE" \
  --gin_file=gin/demo_cpu.gin "${JUDGE_ARGS[@]}"
stage "demo: $DEMO_STEPS steps of gin/demo_cpu.gin"
$PY -m dvdgan_tf.train --gin_file=gin/demo_cpu.gin \
  --gin_param="training.run.model_dir = '$DEMO'" \
  --gin_param="DATA_DIR = '$DATA'" \
  --gin_param="training.run.train_steps = $DEMO_STEPS" \
  --gin_param="training.run.log_every = $(( DEMO_STEPS < 50 ? 1 : 50 ))" \
  2>&1 | tee "$OUT/demo_log.txt"
$PY -m dvdgan_tf.evaluate --model_dir="$DEMO" --metrics=judge \
  --judge_dir="$JUDGE" "${EVAL_ARGS[@]}"

stage "report"
$PY bench/accelerator_report.py --out="$OUT" --hardware="$HARDWARE" \
  $([[ $DRY_RUN == 1 ]] && echo --dry_run) | tee "$OUT/table.md"
