#!/bin/bash
# Train the corpus networks in parallel processes (one GPU shared, or the CPU), then check
# NetworkFuser on CUDA against the CPU. Usage (from the repository root):
#   bash bench/corpus_train_parallel.sh SETS_DIR OUT_DIR MINUTES [DEVICE]
# SETS_DIR holds wv-8band_{train,valid}.h5 and vhr-4band_{train,valid}.h5 from
#   pansharpen simulate corpus:wv-8band --out SETS_DIR/wv-8band.h5 --dtype float16
#   pansharpen simulate corpus:vhr-4band --out SETS_DIR/vhr-4band.h5 --dtype float16
# Each run: --minutes MINUTES wall budget, best state on the held-out scenes (Q2n) written.
set -u
S=$1; O=$2; M=$3; DEV=${4:-cuda}; EPL=${EPOCHS_LIGHTNET:-1000}; EPG=${EPOCHS_LGP:-1500}
mkdir -p "$O"
export PYTHONUNBUFFERED=1
L8="--data $S/wv-8band_train.h5 --valid $S/wv-8band_valid.h5"
L4="--data $S/vhr-4band_train.h5 --valid $S/vhr-4band_valid.h5"
LN="lightnet -O init=balanced --epochs $EPL --validate-every $((EPL / 20 > 0 ? EPL / 20 : 1))"
LG="lgpconv-net --preset lightnet --batch-size 32 --epochs $EPG --validate-every $((EPG / 20 > 0 ? EPG / 20 : 1))"
run() {
  local name=$1; shift
  python3 -m pansharpen train "$@" --device "$DEV" --threads 1 --minutes "$M" --seed 0 --quiet --overwrite \
    --out "$O/$name.safetensors" > "$O/$name.log" 2>&1 &
}
run lightnet.wv-8band.none      $LN $L8
run lightnet.wv-8band.d         $LN $L8 --augment dihedral
run lightnet.wv-8band.dg        $LN $L8 --augment dihedral,gain=0.3
run lgpconv-net.wv-8band.none   $LG $L8
run lgpconv-net.wv-8band.d      $LG $L8 --augment dihedral
run lgpconv-net.wv-8band.dg     $LG $L8 --augment dihedral,gain=0.3
run lightnet.vhr-4band.d        $LN $L4 --augment dihedral
run lightnet.vhr-4band.dg       $LN $L4 --augment dihedral,gain=0.3
run lgpconv-net.vhr-4band.d     $LG $L4 --augment dihedral
run lgpconv-net.vhr-4band.dg    $LG $L4 --augment dihedral,gain=0.3
t0=$(date +%s)
wait
echo "training wall: $(( $(date +%s) - t0 )) s"
for f in "$O"/*.log; do echo "== $f"; tail -n 3 "$f"; done
rm -f "$O"/*.ckpt
if [ "$DEV" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.used --format=csv || true
  timeout 150 python3 bench/fuse_device_check.py --set "$S/wv-8band_train.h5" --threads 8 2>&1 | tee "$O/fuse_device_check.txt"
fi
