#!/usr/bin/env bash
# Prepares the GPU check on this machine (no GPU needed): builds linrec, compiles the kernel
# libraries ahead of time and copies the conformance cases into .gpu/, the folder a lent GPU
# receives (`carry: [".gpu"]`); bench/gpu/run.sh then runs there without LLVM or MLIR.
#   .gpu/lib/cases/CASE.{so,json}        each chunked conformance case's layer, f32
#   .gpu/lib/sweep/FAMILY_dD_{f32,bf16,bf16tc}  each chunked family at head dims 64 and 128
#                                        (bf16tc: the tensor-core schedule)
#   .gpu/conformance/CASE/               the cases' inputs and float64 outputs
#   .gpu/whl/                            flash-linear-attention, when pip can fetch it
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${LINREC_BUILD_DIR:-$root/build}"
cases="${LINREC_CONFORMANCE_DIR:-$root/../shared/conformance}"
out="$root/.gpu"
chip="${LINREC_GPU_CHIP:-sm_90a}"
"$root/scripts/build.sh" >/dev/null
rm -rf "$out" && mkdir -p "$out/lib/cases" "$out/lib/sweep" "$out/conformance" "$out/models/cases" \
  "$out/models/families"

# Layers that are one recurrence on the case's own inputs once linrec-compile has fused what
# surrounds it (Hedgehog's projections; Liger Attention's window with --fuse-windows, one GPU
# kernel); LoLCATs (a constant write mask), DiagAttention (a window kernel), TransNormer and MoM
# (norms and routing around the recurrence) need host ops linrec-compile does not compile yet.
for dir in "$cases"/{linear,lightning,simple_gla,gla,delta,gated_delta,kda,liger_gla,liger_hgrn2,hedgehog,liger_attention}_*/; do
  name=$(basename "$dir")
  "$build/bin/linrec-run" --case "$dir" --emit-mlir > "$out/models/cases/$name.mlir"
  "$build/bin/linrec-compile" "$out/models/cases/$name.mlir" --target=cuda --chip="$chip" \
    --fuse-windows --name "$name" -o "$out/lib/cases" >/dev/null
  cp -r "$dir" "$out/conformance/$name"
done

python3 "$root/bench/gpu/make_models.py" "$out/models/families"
for model in "$out"/models/families/*.mlir; do
  name=$(basename "$model" .mlir)
  for type in f32 bf16; do
    "$build/bin/linrec-compile" "$model" --target=cuda --chip="$chip" --element-type=$type \
      --name "${name}_$type" -o "$out/lib/sweep" >/dev/null
  done
  # The tensor-core variant (f16 MMA operands, f32 accumulation), for bf16 inputs.
  "$build/bin/linrec-compile" "$model" --target=cuda --chip="$chip" --element-type=bf16 \
    --tensor-cores --name "${name}_bf16tc" -o "$out/lib/sweep" >/dev/null
done

# ptxas -v of every kernel: registers, spills, shared memory (the GPU run cannot see them).
for model in "$out"/models/families/*.mlir; do
  for tc in 0 1; do
    "$build/bin/linrec-opt" "$model" --linrec-to-nvvm="chip=$chip tensor-cores=$tc" |
      python3 "$root/tools/ptx-report/ptx-report.py" --name "$(basename "$model" .mlir) tc=$tc" || true
  done
done > "$out/ptxas.md"

# flash-linear-attention, pinned (pure Python + Triton; its other needs are in the GPU image).
mkdir -p "$out/whl"
python3 -m pip download -q --no-deps -d "$out/whl" flash-linear-attention==0.6.0 fla-core==0.6.0 ||
  echo "no flash-linear-attention wheel: the GPU run times linrec alone"
# The linrec wheel (LLVM and MLIR inside) for the GPU tuning run, when the carry stays under
# its 64 MiB.
if "$root/scripts/wheel.sh" >/dev/null 2>&1; then
  wheel=$(ls "$root"/build-wheel/dist/linrec-*.whl | head -1)
  if [ $(( $(du -sm "$out" | cut -f1) + $(du -sm "$wheel" | cut -f1) )) -lt 62 ]; then
    cp "$wheel" "$out/whl/"
  else
    echo "the linrec wheel does not fit the carry: the GPU run skips its tuning"
  fi
fi
du -sh "$out"
