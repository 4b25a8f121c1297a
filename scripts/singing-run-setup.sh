# Sourced by issue 26's training scripts (train_singing_model.sh,
# train_singing_stage2.sh, anneal_singing_model.sh), so that every leg trains and
# validates on the same sets and launches its processes the same way.
#
#   singing_sets WORKDIR      -> DATA, VAL (arrays of cache folders)
#   singing_launch PY NPROC   -> LAUNCH (the python command, under mpiexec when
#                                NPROC > 1), PAR (the communicator flag); exits 2
#                                on an NPROC that does not divide 64 crops evenly
singing_sets() {
  DATA=("$1/cache/mir1k" "$1/cache/musdb" "$1/cache/realmix")
  VAL=("$1/val/mir1k" "$1/val/musdb" "$1/cache/valid-leak" "$1/cache/valid-voice" "$1/cache/valid-synth")
}
singing_launch() {
  case "$2" in 1|2|4|8) ;; *) echo "NPROC must be 1, 2, 4 or 8 (64 crops per update)" >&2; exit 2;; esac
  LAUNCH=("$1"); PAR=()
  if [ "$2" -gt 1 ]; then
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    LAUNCH=(mpiexec --allow-run-as-root --oversubscribe -n "$2" "$1")
    PAR=(--communicator naive)
  fi
}
