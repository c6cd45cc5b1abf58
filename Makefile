# Convenience targets; each is a thin wrapper over a script (the scripts are the source of truth).
.PHONY: setup build test up down local-up local-down bench

setup:        ; bash scripts/setup.sh
build:        ; cmake -S . -B build -G Ninja -DPAXOSKV_WERROR=ON && cmake --build build
test:         ; scripts/test.sh
up:           ; deploy/up.sh
down:         ; deploy/down.sh
local-up:     ; scripts/local-cluster.sh start
local-down:   ; scripts/local-cluster.sh stop
bench:        ; bench/run.sh
