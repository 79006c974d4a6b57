#!/usr/bin/env bash
# Serve Prefect for this project: one server, a process work pool, a worker, the deployments
# in prefect.yaml (retrain, nightly at 02:00 UTC, sweep) and the data watcher (flows/watch.py:
# a change of the raw inputs triggers a retrain run). `make serve` / `make stop` call it.
#
#   scripts/prefect.sh start            # server + pool + worker + `prefect deploy --all`
#   scripts/prefect.sh run [ARGS...]    # prefect deployment run 'retrain/retrain' ARGS
#   scripts/prefect.sh status | stop
#
# Every command gets the same API: PREFECT_API_URL (default http://127.0.0.1:$PREFECT_PORT/api,
# port 4200), PREFECT_HOME (default <project>/.prefect), ESANS_PROJECT_DIR (default this
# project; the deployments' pull step runs flows there). Logs: $PREFECT_HOME/logs/.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export ESANS_PROJECT_DIR=${ESANS_PROJECT_DIR:-$here}
export PREFECT_HOME=${PREFECT_HOME:-$ESANS_PROJECT_DIR/.prefect}
port=${PREFECT_PORT:-4200}
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:$port/api}
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false HF_HUB_OFFLINE=1 \
       TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bin=${ESANS_BIN:-$here/.venv/bin}
export PATH=$bin:$PATH
pool=esans-process
run_dir=$PREFECT_HOME/run
logs=$PREFECT_HOME/logs
mkdir -p "$run_dir" "$logs"

die() { echo "esans: error: $*" >&2; exit 1; }
schedule() {  # the nightly deployment's schedule, as prefect.yaml declares it
    "$bin/python" - "$ESANS_PROJECT_DIR/prefect.yaml" <<'PY'
import sys, yaml
d = {x["name"]: x for x in yaml.safe_load(open(sys.argv[1]))["deployments"]}
s = (d.get("nightly", {}).get("schedules") or [{}])[0]
print(f"cron {s.get('cron', '?')}, {s.get('timezone', 'UTC')}")
PY
}
alive() { [[ -f $run_dir/$1.pid ]] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }
healthy() {
    "$bin/python" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' "$PREFECT_API_URL" 2>/dev/null
}
need_api() {
    healthy || die "no Prefect API at $PREFECT_API_URL (start it with \`make serve\`; set" \
                   "PREFECT_API_URL or PREFECT_PORT if it runs elsewhere)"
}
launch() {  # name, command...: in its own session (so stop takes its children), logged
    local name=$1; shift
    setsid "$@" >"$logs/$name.log" 2>&1 < /dev/null &
    echo $! >"$run_dir/$name.pid"
}
halt() {  # names...: SIGTERM to each process group, up to 8 s to exit, then SIGKILL
    local name pid pids=()
    for name in "$@"; do
        alive "$name" || { rm -f "$run_dir/$name.pid"; continue; }
        pid=$(cat "$run_dir/$name.pid"); pids+=("$pid")
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for _ in $(seq 32); do
        local left=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
        [[ $left == 0 ]] && break
        sleep 0.25
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    for name in "$@"; do rm -f "$run_dir/$name.pid"; done
    [[ ${#pids[@]} == 0 ]] || echo "stopped: $*"
}

case ${1:-} in
start)
    [[ -x $bin/prefect ]] || die "$bin/prefect not found: run \`make install\` first"
    if alive server; then
        echo "server already running (pid $(cat "$run_dir/server.pid"))"
    else
        healthy && die "something else already serves $PREFECT_API_URL; set PREFECT_PORT"
        api_port=${PREFECT_API_URL%/api}
        launch server prefect server start --host 127.0.0.1 --port "${api_port##*:}"
    fi
    for _ in $(seq 240); do healthy && break; alive server || break; sleep 0.5; done
    healthy || { tail -n 20 "$logs/server.log" >&2
                 die "the Prefect server did not come up at $PREFECT_API_URL (log above:" \
                     "$logs/server.log)"; }
    prefect work-pool inspect "$pool" >/dev/null 2>&1 \
        || prefect work-pool create "$pool" --type process >"$logs/pool.log" 2>&1 \
        || { cat "$logs/pool.log" >&2; die "could not create work pool $pool"; }
    # one flow run at a time across deployments (they share the workspace): others queue
    prefect work-pool set-concurrency-limit "$pool" 1 >>"$logs/pool.log" 2>&1
    alive worker || launch worker prefect worker start --pool "$pool"
    alive watch || launch watch "$bin/python" -m flows.watch --project-dir "$ESANS_PROJECT_DIR" \
        --interval "${ESANS_WATCH_INTERVAL:-5}"
    (cd "$ESANS_PROJECT_DIR" && prefect --no-prompt deploy --all) >"$logs/deploy.log" 2>&1 \
        || { tail -n 20 "$logs/deploy.log" >&2; die "prefect deploy failed (log above; \`make stop\` stops the server and worker)"; }
    cat <<EOF
Prefect is serving esans from $ESANS_PROJECT_DIR
  UI and API   ${PREFECT_API_URL%/api}   (PREFECT_API_URL=$PREFECT_API_URL)
  worker       pool $pool, logs in $logs/
  deployments  retrain/retrain, retrain/nightly ($(schedule)), sweep/sweep
  data trigger retrain/retrain runs when the raw inputs change (watcher log: $logs/watch.log)
Run one now:   scripts/prefect.sh run [-p sampler=uniform]      Stop: make stop
EOF
    ;;
run)
    shift
    need_api
    exec prefect deployment run 'retrain/retrain' "$@"
    ;;
status)
    for p in server worker watch; do
        if alive $p; then echo "$p: running (pid $(cat "$run_dir/$p.pid"))"
        else echo "$p: stopped"; fi
    done
    healthy && echo "API: $PREFECT_API_URL healthy" || echo "API: $PREFECT_API_URL not reachable"
    ;;
stop)
    halt watch worker server
    ;;
*)
    echo "usage: scripts/prefect.sh start | run [ARGS...] | status | stop" >&2
    exit 2
    ;;
esac
