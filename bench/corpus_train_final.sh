#!/bin/bash
# The bundled corpus runs: the augmentation chosen on the held-out scenes (dihedral), epochs
# matched to what 4.5 minutes give on one shared GPU, so the StepLR schedule completes.
#   bash bench/corpus_train_final.sh SETS_DIR OUT_DIR MINUTES [DEVICE]
set -u
S=$1; O=$2; M=$3; DEV=${4:-cuda}
mkdir -p "$O"; export PYTHONUNBUFFERED=1
L8="--data $S/wv-8band_train.h5 --valid $S/wv-8band_valid.h5"
L4="--data $S/vhr-4band_train.h5 --valid $S/vhr-4band_valid.h5"
run() { local name=$1; shift
  python3 -m pansharpen train "$@" --augment dihedral --device "$DEV" --threads 1 --minutes "$M" --seed 0 --quiet \
    --overwrite --out "$O/$name.safetensors" > "$O/$name.log" 2>&1 & }
run lightnet.wv-8band     lightnet -O init=balanced --epochs ${EPL:-220} --validate-every 10 $L8
run lightnet.vhr-4band    lightnet -O init=balanced --epochs ${EPL:-200} --validate-every 10 $L4
run lgpconv-net.wv-8band  lgpconv-net --preset lightnet --batch-size 32 --epochs ${EPG:-600} --validate-every 25 $L8
run lgpconv-net.vhr-4band lgpconv-net --preset lightnet --batch-size 32 --epochs ${EPG:-600} --validate-every 25 $L4
t0=$(date +%s); wait; echo "training wall: $(( $(date +%s) - t0 )) s"
for f in "$O"/*.log; do echo "== $f"; tail -n 2 "$f"; done
rm -f "$O"/*.ckpt
