#!/usr/bin/env bash
# The sequence-parallel benchmark on this machine: linrec-sp-bench under mpirun (one kernel
# thread per rank; 4 ranks oversubscribe a 2-core machine): every chunked family at T = 64K
# and 256K over 2 and 4 ranks, GLA and Gated DeltaNet up to 1M, LoLCATs (halos) at 64K, and
# the single-process forward at 256K for reference. Writes
# bench/results/<date>-sequence-parallel.md unless OUT names another file.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bench="$root/build/bin/linrec-sp-bench"
out="${OUT:-$root/bench/results/$(date +%F)-sequence-parallel.md}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { mpirun -np "$1" --oversubscribe -x OMP_NUM_THREADS=1 "$bench" --repeats=2 "${@:2}"; }
{
  echo "# Sequence-parallel forward (linrec-sp-bench)"
  echo
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;"
  echo "B = 1, H = 2, dk = dv = 64, f32, one kernel thread per rank."
  for np in 2 4; do
    echo
    echo "## $np ranks"
    echo
    run "$np" --models=linear,simple_gla,gla,delta,gated_delta,kda --tokens=65536,262144
    run "$np" --models=gla,gated_delta --tokens=1048576 | tail -n +4
    run "$np" --models=lolcats --tokens=65536 | tail -n +4
  done
  echo
  echo "## 1 rank (the plain forward, for reference)"
  echo
  run 1 --models=linear,simple_gla,gla,delta,gated_delta,kda --tokens=262144
} | tee "$out"
